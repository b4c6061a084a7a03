"""The published pipelines and the experiments a caller may read: the service's list routes, and the
pipeline view's pipelines page."""

from __future__ import annotations

from typing import Any

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.common.dagbag import DagBagDep
from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import GetUserDep
from airflow.models import DagModel, DagRun
from airflow.models.dag import DagTag
from fastapi import Request
from sqlalchemy import or_, select

from amlflow.api import entities
from amlflow.api.urls import request_base_url
from amlflow.factory.dag_builder import EXPERIMENT_TAG_PREFIX, PUBLISHED_TAG, TAG
from amlflow.runtime import run_conf


def list_published_pipelines(
    request: Request, user: GetUserDep, session: SessionDep, dag_bag: DagBagDep, activeOnly: bool = True
) -> list[dict[str, Any]]:
    """The published pipelines the caller may read (only the active ones unless ``activeOnly=false``)."""
    readable = get_auth_manager().get_authorized_dag_ids(user=user, method="GET", session=session)
    query = (
        select(DagModel)
        .join(DagTag, DagTag.dag_id == DagModel.dag_id)
        .where(DagTag.name == PUBLISHED_TAG, ~DagModel.is_stale, DagModel.dag_id.in_(readable))
        .order_by(DagModel.dag_id)
    )
    if activeOnly:
        query = query.where(DagModel.is_paused.is_(False))
    found = []
    for dag_model in session.scalars(query):
        dag = dag_bag.get_latest_version_of_dag(dag_model.dag_id, session=session)
        if dag is not None:
            found.append(entities.published_pipeline_entity(dag_model, dag, request_base_url(request)))
    return found


def list_experiments(user: GetUserDep, session: SessionDep) -> list[dict[str, str]]:
    """The experiments of the runs and submitted pipelines the caller may read, by name."""
    readable = get_auth_manager().get_authorized_dag_ids(user=user, method="GET", session=session)
    tags = session.execute(
        select(DagTag.dag_id, DagTag.name).where(
            DagTag.dag_id.in_(readable), or_(DagTag.name == TAG, DagTag.name.startswith(EXPERIMENT_TAG_PREFIX))
        )
    ).all()
    ours = {dag_id for dag_id, name in tags if name == TAG}
    names = {name[len(EXPERIMENT_TAG_PREFIX) :] for _, name in tags if name.startswith(EXPERIMENT_TAG_PREFIX)}
    for conf in session.scalars(select(DagRun.conf).where(DagRun.dag_id.in_(ours))):
        name = run_conf.experiment_name(conf)
        if name:
            names.add(name)
    return [{"Name": name} for name in sorted(names)]
