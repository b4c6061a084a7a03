"""What a ParallelRunStep's entry script imports at run time, as Azure ML's ``azureml_user`` package."""
