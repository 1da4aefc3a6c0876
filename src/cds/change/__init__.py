"""Change control of the rules: the knowledge version of a configuration, the effective rules
a committee reads, what changes between two configurations, and a candidate's settings."""
