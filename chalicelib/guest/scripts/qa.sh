# atomic-release QA guest, run once the new image has booted. The pipeline renders the
# variables above this line:  TASK_TOKEN REGION EXPECTED_COMMIT EXPECTED_ARCH FIRSTBOOT
# It checks the booted system and reports every check through the task token with
# `curl --aws-sigv4`, signed with the instance profile's credentials from IMDSv2: minimal
# images have no AWS CLI.
set -uo pipefail

IMDS=http://169.254.169.254/latest

json_string() {
    local text=$1
    text=${text//\\/\\\\}
    text=${text//\"/\\\"}
    text=${text//$'\n'/\\n}
    text=${text//$'\r'/\\r}
    text=${text//$'\t'/\\t}
    printf '"%s"' "$text"
}

check() {  # name passed expected actual
    printf '{"name":%s,"passed":%s,"expected":%s,"actual":%s}' \
        "$(json_string "$1")" "$2" "$(json_string "$3")" "$(json_string "$4")"
}

booted_commit() {
    if command -v rpm-ostree >/dev/null && command -v jq >/dev/null; then
        rpm-ostree status --json | jq -r '.deployments[] | select(.booted) | .checksum'
    else
        ostree admin status | sed -n 's/^\* *[^ ]* \([0-9a-f]\{64\}\)\.[0-9]*.*$/\1/p'
    fi
}

system_state() {
    local state failed
    state=$(systemctl is-system-running --wait)
    if [ "$state" = degraded ]; then
        failed=$(systemctl --failed --no-legend --plain | awk '{print $1}' | paste -sd, -)
        state="degraded (failed units: $failed)"
    fi
    echo "$state"
}

firstboot_state() {
    case $FIRSTBOOT in
        ignition) if [ -e /etc/.ignition-result.json ]; then echo "done"; else echo "no ignition result"; fi ;;
        cloud-init) cloud-init status --wait | sed -n 's/^status: //p' ;;
    esac
}

network_state() {
    if [ -n "$(ip -4 route show default)" ]; then echo up; else echo "no default route"; fi
}

passed() { if [ "$1" = "$2" ]; then echo true; else echo false; fi; }

imds_token=$(curl -sSf -X PUT "$IMDS/api/token" -H "X-aws-ec2-metadata-token-ttl-seconds: 300")
imds() { curl -sSf -H "X-aws-ec2-metadata-token: $imds_token" "$IMDS/meta-data/$1"; }

booted=$(booted_commit)
state=$(system_state)
arch=$(uname -m)
firstboot=$(firstboot_state)
network=$(network_state)
checks=$(printf '%s,%s,%s,%s,%s' \
    "$(check booted-commit "$(passed "$booted" "$EXPECTED_COMMIT")" "$EXPECTED_COMMIT" "$booted")" \
    "$(check system-state "$(passed "$state" running)" running "$state")" \
    "$(check architecture "$(passed "$arch" "$EXPECTED_ARCH")" "$EXPECTED_ARCH" "$arch")" \
    "$(check first-boot "$(passed "$firstboot" "done")" "done" "$firstboot")" \
    "$(check network "$(passed "$network" up)" up "$network")")
report=$(printf '{"instance_id":%s,"checks":[%s]}' "$(json_string "$(imds instance-id)")" "$checks")

role=$(imds iam/security-credentials/)
credentials=$(imds "iam/security-credentials/$role")
field() { printf '%s' "$credentials" | sed -n "s/.*\"$1\" *: *\"\\([^\"]*\\)\".*/\\1/p"; }
curl -sSf --aws-sigv4 "aws:amz:$REGION:states" --user "$(field AccessKeyId):$(field SecretAccessKey)" \
    -H "x-amz-security-token: $(field Token)" \
    -H "Content-Type: application/x-amz-json-1.0" -H "X-Amz-Target: AWSStepFunctions.SendTaskSuccess" \
    --data "{\"taskToken\":$(json_string "$TASK_TOKEN"),\"output\":$(json_string "$report")}" \
    "https://states.$REGION.amazonaws.com/"
echo "reported: $report"
