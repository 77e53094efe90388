"""Output formats: small pure writers from stacks to text."""
