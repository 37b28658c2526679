"""The nftables evaluator (`compliance.syntax.nft.judge`) against the real kernel.

Rulesets generated within the evaluator's grammar are loaded into a server's network
namespace; a client tries TCP connections to port 11434 over IPv4 and IPv6 (link-local); the
kernel's answer (connected, or not) must agree with the judgement wherever the judgement is
sure. The server side is pluggable (`sides`): two private namespaces made here, or the lab's
CT 955 with its `ollama-lan` client.
"""
