#!/bin/sh
# tandem alert hook: mails the event.
#
# Install it on every node (root-owned, mode 0755) and add to tandem.yaml:
#
#   alerts:
#     - name: mail
#       path: /etc/tandem/alerts/mail.sh
#       timeout: 30s                          # the agent kills the hook after this
#       events: [node_down, group_moved, resource_failed, split_brain_healed, quorum_lost]
#       env:
#         MAIL_TO: "oncall@example.com"       # several: separate with commas
#         # MAIL_FROM: "tandem@fs1.example.com"  # optional
#
# It hands the message to sendmail (postfix, exim, msmtp-mta, nullmailer and
# ssmtp all provide one), or else to mail(1). The subject is the one-line
# summary; the body lists every TANDEM_* variable.
set -eu

: "${MAIL_TO:?set MAIL_TO under env: of this alert in tandem.yaml}"

# One line without control characters, so nothing from an event's detail
# can add mail headers.
oneline() {
	printf '%s' "$1" | tr '\t\r\n' '   ' | tr -d '\000-\037'
}

subject=$(oneline "[tandem ${TANDEM_CLUSTER:-}] ${TANDEM_SUMMARY:-${TANDEM_EVENT:-event}}")

body() {
	printf '%s\n\n' "${TANDEM_SUMMARY:-}"
	printf 'event:     %s\n' "${TANDEM_EVENT:-}"
	printf 'cluster:   %s\n' "${TANDEM_CLUSTER:-}"
	printf 'node:      %s\n' "${TANDEM_NODE:-}"
	[ -z "${TANDEM_PEER:-}" ] || printf 'peer:      %s\n' "$TANDEM_PEER"
	[ -z "${TANDEM_LINK:-}" ] || printf 'link:      %s\n' "$TANDEM_LINK"
	[ -z "${TANDEM_RESOURCE:-}" ] || printf 'resource:  %s\n' "$TANDEM_RESOURCE"
	[ -z "${TANDEM_GROUP:-}" ] || printf 'group:     %s\n' "$TANDEM_GROUP"
	[ -z "${TANDEM_DETAIL:-}" ] || printf 'detail:    %s\n' "$TANDEM_DETAIL"
	[ -z "${TANDEM_TOOK_MS:-}" ] || printf 'took:      %s ms\n' "$TANDEM_TOOK_MS"
	printf 'time:      %s\n' "${TANDEM_TIMESTAMP:-}"
	printf 'sequence:  %s (a gap means events were filtered out or dropped)\n' "${TANDEM_SEQUENCE:-}"
}

sendmail=
for s in sendmail /usr/sbin/sendmail /usr/lib/sendmail; do
	if command -v "$s" >/dev/null 2>&1; then
		sendmail=$s
		break
	fi
done

if [ -n "$sendmail" ]; then
	{
		printf 'To: %s\n' "$(oneline "$MAIL_TO")"
		[ -z "${MAIL_FROM:-}" ] || printf 'From: %s\n' "$(oneline "$MAIL_FROM")"
		printf 'Subject: %s\n' "$subject"
		printf 'Auto-Submitted: auto-generated\n'
		printf 'MIME-Version: 1.0\n'
		printf 'Content-Type: text/plain; charset=UTF-8\n'
		printf '\n'
		body
	} | "$sendmail" -oi -t
elif command -v mail >/dev/null 2>&1; then
	body | mail -s "$subject" "$MAIL_TO"
else
	echo "mail.sh: neither sendmail nor mail(1) is installed" >&2
	exit 1
fi
