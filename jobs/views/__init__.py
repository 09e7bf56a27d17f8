"""Dashboard views of jobs: one module per page."""
