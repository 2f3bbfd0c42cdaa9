"""Running a plan over many files: workers, executors, state, layout, atomic writes, the Job."""
