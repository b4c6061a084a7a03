print("a local step runs while Databricks runs are deferred")
