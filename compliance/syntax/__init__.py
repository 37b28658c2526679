"""Pure parsers of the formats the plan and the facts share (no I/O, no suite imports).

The plan's reference files are read with these (compliance/plan), and so is what the targets
print (compliance/facts): one reading of a unit file, an nginx config, an OLLAMA_HOST value.
"""
