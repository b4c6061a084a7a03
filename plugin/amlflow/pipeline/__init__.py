"""Pipeline declarations, at ``azureml.pipeline``'s module paths."""
