# atomic-release QA guest, run once the new image has booted. The pipeline renders the
# variables above this line:  TASK_TOKEN REGION EXPECTED_COMMIT EXPECTED_ARCH FIRSTBOOT
#   STATES_ENDPOINT IMDS_ENDPOINT
# It checks the booted system and reports every check through the task token.
set -uo pipefail

check() {  # name passed expected actual
    printf '{"name":%s,"passed":%s,"expected":%s,"actual":%s}' \
        "$(json_string "$1")" "$2" "$(json_string "$3")" "$(json_string "$4")"
}

booted_commit() {
    if command -v rpm-ostree >/dev/null && command -v jq >/dev/null; then
        rpm-ostree status --json | jq -r '.deployments[] | select(.booted) | .checksum'
    else
        deployment_commit "" /proc/cmdline
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

# Its output goes to the serial console too: EC2's get-console-output shows how QA went.
echo "atomic-release QA: waiting for the boot to finish"
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
echo "atomic-release QA: checks done: $checks"
report=$(printf '{"instance_id":%s,"checks":[%s]}' "$(json_string "$(imds instance-id)")" "$checks")

report_success "$report" >/dev/null
echo "atomic-release QA: reported"
