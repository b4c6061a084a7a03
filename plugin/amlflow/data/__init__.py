"""Data declarations, at ``azureml.data``'s module paths."""
