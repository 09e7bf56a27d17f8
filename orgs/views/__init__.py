"""Dashboard views of accounts, organizations and members: one module per area."""
