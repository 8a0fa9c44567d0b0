"""Pure domain logic (no Flask, no database): parsing, service rules, eligibility, replies."""
