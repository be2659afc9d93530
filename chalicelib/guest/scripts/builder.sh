# atomic-release builder guest. The pipeline renders the variables above this line:
#   TASK_TOKEN REGION REPO_URL REF COMMIT TARGET_DEVICE INSTALL_METHOD OSNAME CONTAINER_IMAGE
#   DEADLINE_MINUTES HEARTBEAT_SECONDS
# It writes exactly COMMIT to the target disk, proves it, reports through the task token and
# powers off. Any failure reports the error and the end of this log instead.
set -Eeuo pipefail

LOG=${ATOMIC_RELEASE_LOG:-/var/log/atomic-release-builder.log}
MNT=${ATOMIC_RELEASE_MNT:-/mnt/atomic-release-target}
exec >>"$LOG" 2>&1

shutdown -P "+$DEADLINE_MINUTES" "atomic-release builder deadline reached"

report_failure() {
    local status=$? cause
    # A command substitution inherits this trap (set -E): only the script itself reports.
    [ "$BASHPID" = "$$" ] || exit "$status"
    trap - ERR
    cause=$(tail -n 40 "$LOG" | cut -c1-400)
    if [ "${#cause}" -gt 30000 ]; then cause=${cause: -30000}; fi
    aws stepfunctions send-task-failure --region "$REGION" --task-token "$TASK_TOKEN" \
        --error BuilderFailed --cause "$cause" || true
    kill "${HEARTBEAT_PID:-0}" 2>/dev/null || true
    poweroff
    exit "$status"
}
trap report_failure ERR

send_heartbeats() {
    while sleep "$HEARTBEAT_SECONDS"; do
        aws stepfunctions send-task-heartbeat --region "$REGION" --task-token "$TASK_TOKEN" || true
    done
}
send_heartbeats &
HEARTBEAT_PID=$!

imds() {
    local token
    token=$(curl -sSf -X PUT http://169.254.169.254/latest/api/token \
        -H "X-aws-ec2-metadata-token-ttl-seconds: 300")
    curl -sSf -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/meta-data/$1"
}

target_disk() {
    local attempt
    for attempt in $(seq 1 60); do
        if [ -e "$TARGET_DEVICE" ]; then
            readlink -f "$TARGET_DEVICE"
            return 0
        fi
        echo "waiting for $TARGET_DEVICE ($attempt)" >&2
        sleep 5
    done
    echo "target device $TARGET_DEVICE never appeared" >&2
    return 1
}

partition() {
    case $1 in
        *[0-9]) echo "${1}p$2" ;;
        *) echo "$1$2" ;;
    esac
}

deployed_commit() {
    ostree admin status --sysroot="$MNT" | sed -n 's/^[* ] *[^ ]* \([0-9a-f]\{64\}\)\.[0-9]*.*$/\1/p' | head -n 1
}

install_with_ostree() {
    local disk=$1
    sgdisk --zap-all "$disk"
    sgdisk -n 1:0:+512M -t 1:ef00 -c 1:EFI-SYSTEM -n 2:0:+1G -t 2:8300 -c 2:boot \
        -n 3:0:0 -t 3:8300 -c 3:root "$disk"
    udevadm settle
    mkfs.vfat -F 32 -n EFI-SYSTEM "$(partition "$disk" 1)"
    mkfs.ext4 -q -L boot "$(partition "$disk" 2)"
    mkfs.xfs -q -f -L root "$(partition "$disk" 3)"
    mkdir -p "$MNT"
    mount "$(partition "$disk" 3)" "$MNT"
    mkdir -p "$MNT/boot"
    mount "$(partition "$disk" 2)" "$MNT/boot"
    mkdir -p "$MNT/boot/efi"
    mount "$(partition "$disk" 1)" "$MNT/boot/efi"
    ostree admin init-fs "$MNT"
    ostree admin os-init --sysroot="$MNT" "$OSNAME"
    ostree --repo="$MNT/ostree/repo" remote add --set=gpg-verify=false atomic-release "$REPO_URL" "$REF"
    ostree --repo="$MNT/ostree/repo" pull atomic-release "$COMMIT"
    ostree --repo="$MNT/ostree/repo" refs --create="atomic-release:$REF" "$COMMIT"
    ostree admin deploy --sysroot="$MNT" --os="$OSNAME" --karg=root=LABEL=root --karg=rw "$COMMIT"
}

install_with_bootc() {
    local disk=$1
    podman run --rm --privileged --pid=host -v /dev:/dev -v /var/lib/containers:/var/lib/containers \
        --security-opt label=type:unconfined_t "$CONTAINER_IMAGE" \
        bootc install to-disk --wipe --filesystem xfs "$disk"
    udevadm settle
    mkdir -p "$MNT"
    # bootc's layout differs by architecture (x86_64 has a BIOS boot partition): find root by label
    mount "$(lsblk -nrpo NAME,LABEL "$disk" | awk '$2 == "root" {print $1; exit}')" "$MNT"
}

disk=$(target_disk)
echo "installing $COMMIT from $REPO_URL ($REF) onto $disk by $INSTALL_METHOD"
case $INSTALL_METHOD in
    ostree) install_with_ostree "$disk" ;;
    bootc) install_with_bootc "$disk" ;;
    *) echo "unknown install method $INSTALL_METHOD" >&2; false ;;
esac

deployed=$(deployed_commit)
if [ "$deployed" != "$COMMIT" ]; then
    echo "deployed commit ${deployed:-(none)} is not the requested $COMMIT" >&2
    false
fi

volume_id=$(lsblk -ndo SERIAL "$disk" | sed 's/^vol\([0-9a-f]\)/vol-\1/')
if ! [[ $volume_id =~ ^vol-[0-9a-f]+$ ]]; then
    echo "cannot tell the target disk's volume id (serial ${volume_id:-none})" >&2
    false
fi
instance_id=$(imds instance-id)
sync
umount -R "$MNT"
kill "$HEARTBEAT_PID" 2>/dev/null || true
aws stepfunctions send-task-success --region "$REGION" --task-token "$TASK_TOKEN" \
    --task-output "{\"instance_id\":\"$instance_id\",\"volume_id\":\"$volume_id\",\"commit\":\"$deployed\"}"
echo "reported $deployed on $volume_id"
poweroff
