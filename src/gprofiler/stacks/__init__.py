"""Pure stack handling: the data model, perf script parsing, escaping and scaling."""
