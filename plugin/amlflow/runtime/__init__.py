"""What happens inside one step's task: stage inputs, resolve arguments, run, commit outputs."""
