"""Access control: accounts, sessions, the sign-in gate, roles."""
