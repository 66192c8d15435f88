# bench/petrel_config.sh — sourced by the shell load scripts (ab.sh, profile.sh, allocs_server.sh).
# petrel_config DATA_DIR SMTP_PORT [POP3_PORT]: a Petrel config on stdout for a load on 127.0.0.1: SMTP on
# SMTP_PORT (1,000 connections per IP, session reuse allowed), POP3 on POP3_PORT (none when empty),
# submission, TLS and the admin listener off, plain-text logins allowed with no bound on logins in flight
# (the POP3 loads log in 10 mailboxes at once), inbound SPF/DKIM/DMARC checks off unless CHECK_INBOUND=true
# (the machine has no resolver: each check would wait for its DNS timeout; bench.py's Petrel runs without
# them too), info-level logs.
petrel_config() {
    local data=$1 smtp=$2 pop3=""
    if [ -n "${3:-}" ]; then pop3="\"127.0.0.1:$3\""; fi
    cat <<TOML
[server]
hostname = "mx.bench.test"
data_dir = "$data"
shutdown_deadline = 5
[smtp]
listen = ["127.0.0.1:$smtp"]
max_connections_per_ip = 1000
max_messages_per_connection = 1000000
[submission]
listen = []
tls_listen = []
[pop3]
listen = [$pop3]
tls_listen = []
[auth]
allow_plaintext = true
max_concurrent_logins_per_ip = 0
[authentication]
check_inbound = ${CHECK_INBOUND:-false}
[admin]
listen = ""
[log]
level = "info"
TOML
}
