#!/bin/sh
# tandem alert hook: POSTs the event as JSON to a webhook.
#
# Install it on every node (root-owned, mode 0755) and add to tandem.yaml:
#
#   alerts:
#     - name: webhook
#       path: /etc/tandem/alerts/webhook.sh
#       timeout: 30s                          # the agent kills the hook after this
#       events: [node_down, group_moved, resource_failed, split_brain_healed, quorum_lost]
#       env:
#         WEBHOOK_URL: "https://hooks.example.com/services/T000/B000/XXXX"
#         # WEBHOOK_HEADER: "Authorization: Bearer TOKEN"   # optional
#         # WEBHOOK_MAX_TIME: "10"                          # seconds; keep under timeout
#
# The body has a "text" field (the one-line summary), which is what Slack,
# Mattermost and Rocket.Chat incoming webhooks show, and every TANDEM_*
# variable as its own field:
#
#   {"text": "group voice moved from a to b in 1.02s", "cluster": "fs-pair",
#    "node": "b", "event": "group_moved", "peer": "a", "link": null,
#    "resource": "", "group": "voice", "detail": "", "took_ms": 1020,
#    "timestamp": "2025-03-04T05:06:07.89Z", "sequence": 12, "alert": "webhook"}
#
# The URL and header go to curl on its standard input, not its command line,
# so a token in them does not show in ps. Needs curl.
set -eu

: "${WEBHOOK_URL:?set WEBHOOK_URL under env: of this alert in tandem.yaml}"

# json_string prints $1 as the inside of a JSON string: backslashes, quotes,
# tabs and newlines escaped, other control characters dropped.
json_string() {
	printf '%s\n' "$1" |
		tr -d '\000-\010\013-\037' |
		sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/	/\\t/g' |
		awk 'NR > 1 { printf "%s", "\\n" } { printf "%s", $0 }'
}

# json_number prints $1 if it is a whole number, else null.
json_number() {
	case $1 in
	'' | *[!0-9]*) printf 'null' ;;
	*) printf '%s' "$1" ;;
	esac
}

payload=$(
	printf '{"text": "%s", ' "$(json_string "${TANDEM_SUMMARY:-}")"
	printf '"cluster": "%s", ' "$(json_string "${TANDEM_CLUSTER:-}")"
	printf '"node": "%s", ' "$(json_string "${TANDEM_NODE:-}")"
	printf '"event": "%s", ' "$(json_string "${TANDEM_EVENT:-}")"
	printf '"peer": "%s", ' "$(json_string "${TANDEM_PEER:-}")"
	printf '"link": %s, ' "$(json_number "${TANDEM_LINK:-}")"
	printf '"resource": "%s", ' "$(json_string "${TANDEM_RESOURCE:-}")"
	printf '"group": "%s", ' "$(json_string "${TANDEM_GROUP:-}")"
	printf '"detail": "%s", ' "$(json_string "${TANDEM_DETAIL:-}")"
	printf '"took_ms": %s, ' "$(json_number "${TANDEM_TOOK_MS:-}")"
	printf '"timestamp": "%s", ' "$(json_string "${TANDEM_TIMESTAMP:-}")"
	printf '"sequence": %s, ' "$(json_number "${TANDEM_SEQUENCE:-}")"
	printf '"alert": "%s"}' "$(json_string "${TANDEM_ALERT:-}")"
)

# curl's config syntax: a quoted value, with \ and " escaped.
curl_quote() {
	printf '"%s"' "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')"
}

{
	printf 'url = %s\n' "$(curl_quote "$WEBHOOK_URL")"
	if [ -n "${WEBHOOK_HEADER:-}" ]; then
		printf 'header = %s\n' "$(curl_quote "$WEBHOOK_HEADER")"
	fi
} | curl --config - \
	--silent --show-error --fail \
	--max-time "${WEBHOOK_MAX_TIME:-10}" \
	--header 'Content-Type: application/json' \
	--data-binary "$payload" \
	--output /dev/null
