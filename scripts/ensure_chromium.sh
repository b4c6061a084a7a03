#!/bin/sh
# Headless Chromium and its WebDriver (Debian's chromium and chromium-driver) for the pipeline view's browser
# tests, installed where they are missing (called by `make test`). Selenium drives /usr/bin/chromedriver
# directly, so nothing is downloaded at test time. It never fails the build: where it cannot install, the
# browser tests fail and say what is missing.
set -u
command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 && exit 0
exec sh "$(dirname "$0")/apt_install.sh" ensure_chromium "the pipeline view's browser tests need them" chromium chromium-driver
