"""Audit an Ollama service in a Proxmox LXC container behind an nginx reverse proxy."""
