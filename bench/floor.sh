#!/bin/sh
# The floor: the plan's section-6 checks as a plain shell script, one ssh connection to the
# host (container commands through one `pct exec`), the proxied call with curl from here.
# Exit 0 when every check holds. Usage: bench/floor.sh [ssh-config] [ctid]
cfg=${1:-lab/ssh_config}
ctid=${2:-955}
out=$(ssh -F "$cfg" proxmox "sh -s" <<REMOTE
pct exec $ctid -- sh -c '
  env -i bash -lc "echo PATH=\\\$PATH; echo WHICH=\\\$(command -v ollama)"
  echo ACTIVE=\$(systemctl is-active ollama)
  echo ENABLED=\$(systemctl is-enabled ollama)
  journalctl -u ollama -n 200 --no-pager | grep -ciE "bind:|panic|permission denied" | sed "s/^/JOURNAL_ERRORS=/"
  ss -H -tlnp "sport = :11434" | sed "s/^/LISTEN=/"
  echo DIRECT=\$(curl -s --max-time 5 http://127.0.0.1:11434/api/tags)
'
nginx -t 2>&1 | grep -q "test is successful" && echo NGINX_T=ok
REMOTE
)
proxied=$(curl -s --max-time 5 "http://127.0.0.1/ollama/api/tags")
echo "$out" | grep -q 'PATH=.*/usr/local/bin' &&
  echo "$out" | grep -q '^WHICH=/usr/local/bin/ollama$' &&
  echo "$out" | grep -q '^ACTIVE=active$' &&
  echo "$out" | grep -q '^ENABLED=enabled$' &&
  echo "$out" | grep -q '^JOURNAL_ERRORS=0$' &&
  echo "$out" | grep -qE '^LISTEN=LISTEN .*(\*|0\.0\.0\.0|\[::\]):11434' &&
  echo "$out" | grep -q '^NGINX_T=ok$' &&
  [ "DIRECT=$proxied" = "$(echo "$out" | grep '^DIRECT=')" ]
