# atomic-release builder guest. The pipeline renders the variables above this line:
#   TASK_TOKEN REGION REPO_URL REF COMMIT TARGET_DEVICE INSTALL_METHOD OSNAME CONTAINER_IMAGE ARCH
#   KERNEL_ARGUMENTS FIRSTBOOT REQUIRED_TOOLS BUILDER_PACKAGES STATES_ENDPOINT IMDS_ENDPOINT
#   DEADLINE_MINUTES HEARTBEAT_SECONDS VERIFY_SIGNATURES TRUSTED_KEYS S3_ENDPOINT ARTIFACT_BUCKET
#   STAGING_PREFIX RAW_FILE QCOW2_FILE
# It writes exactly COMMIT to the target disk as a disk that boots (UEFI on both architectures,
# BIOS too on x86_64), proves it, makes the disk's downloadable images (raw.xz, qcow2.xz) and
# uploads them privately to ARTIFACT_BUCKET under STAGING_PREFIX, reports through the task token
# and powers off. With
# VERIFY_SIGNATURES=true, ostree pulls COMMIT only if one of TRUSTED_KEYS (ASCII-armored) signed
# it: a commit that changed since the pipeline checked it is refused here. Any failure reports
# the error and the end of this log instead.
# Sourced (`source builder.sh`), it only defines its functions: the compression benchmark runs them.
set -Eeuo pipefail

LOG=${ATOMIC_RELEASE_LOG:-/var/log/atomic-release-builder.log}
MNT=${ATOMIC_RELEASE_MNT:-/mnt/atomic-release-target}
DISK_BY_ID=${ATOMIC_RELEASE_DISK_BY_ID:-/dev/disk/by-id}
# Scratch space for the qcow2 and one upload part at a time, off the target disk.
SCRATCH=${ATOMIC_RELEASE_SCRATCH:-/var/tmp/atomic-release}
PART_BYTES=$((64 << 20))  # S3 takes 10,000 parts at most: 625 GiB of compressed image
# The builder reports (and the release waits) only once both images are up, so compression is
# on the release's critical path. Measured on 400 MB of Debian's /usr: preset 1 makes 112 MB with
# 45 s of CPU, 3 makes 109 MB (132 s), 6 makes 99 MB (234 s, 270 MB resident with two threads):
# 6 saves consumers 12 % for five times the builder's time. `python -m bench compress` measures it.
XZ_PRESET=1
PENDING_UPLOAD=""  # "KEY UPLOAD-ID" of the multipart upload under way, aborted on failure

report_failure() {
    local status=$? cause
    # A command substitution inherits this trap (set -E): only the script itself reports.
    [ "$BASHPID" = "$$" ] || exit "$status"
    trap - ERR
    cause=$(tail -n 40 "$LOG" | cut -c1-400)
    if [ "${#cause}" -gt 30000 ]; then cause=${cause: -30000}; fi
    abandon_upload || true
    rm -rf "${WORK:-}"
    report_failure_of BuilderFailed "$cause" || true
    # Not `kill 0`: before the heartbeats start, that would signal the whole process group.
    [ -z "${HEARTBEAT_PID:-}" ] || kill "$HEARTBEAT_PID" 2>/dev/null || true
    umount -R "$MNT" 2>/dev/null || true
    poweroff
    exit "$status"
}

missing_tools() {
    local tool
    for tool in $REQUIRED_TOOLS; do command -v "$tool" >/dev/null || printf '%s ' "$tool"; done
}

# Every tool this script calls is declared in REQUIRED_TOOLS and checked before the disk is
# touched. A builder OS with apt-get (a Debian image) is given what it lacks.
ensure_tools() {
    local missing packages
    missing=$(missing_tools)
    if [ -n "$missing" ] && command -v apt-get >/dev/null; then
        echo "installing the builder's packages for: $missing"
        read -ra packages <<<"$BUILDER_PACKAGES"
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}" || true
        missing=$(missing_tools)
    fi
    if [ -n "$missing" ]; then
        echo "the builder OS lacks required tools: ${missing% }" >&2
        return 1
    fi
}

send_heartbeats() {
    while sleep "$HEARTBEAT_SECONDS"; do report_heartbeat >/dev/null || true; done
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

partition() {  # DISK NUMBER: the partition's device, once the kernel shows it
    local device attempt
    case $1 in
        *[0-9]) device="${1}p$2" ;;
        *) device="$1$2" ;;
    esac
    for attempt in $(seq 1 20); do
        [ -e "$device" ] && { echo "$device"; return 0; }
        sleep 0.5
    done
    echo "partition $device never appeared (attempt $attempt)" >&2
    return 1
}

# The layout of Fedora CoreOS's disks (coreos-assembler's create_disk.sh): labelled partitions,
# a BIOS boot partition on x86_64 (uefi-preferred instance types without UEFI boot by BIOS),
# an ESP, /boot on ext4 and the root on XFS.
partition_disk() {
    local disk=$1
    sgdisk --zap-all "$disk" >/dev/null
    if [ "$ARCH" = x86_64 ]; then
        sgdisk -n 1:0:+1M -t 1:ef02 -c 1:BIOS-BOOT "$disk" >/dev/null
    fi
    sgdisk -n "$((PART_ESP)):0:+127M" -t "$((PART_ESP)):ef00" -c "$((PART_ESP)):EFI-SYSTEM" \
        -n "$((PART_BOOT)):0:+384M" -t "$((PART_BOOT)):8300" -c "$((PART_BOOT)):boot" \
        -n "$((PART_ROOT)):0:0" -t "$((PART_ROOT)):8300" -c "$((PART_ROOT)):root" "$disk" >/dev/null
    # A loop device or a busy kernel may not show the new partitions without being asked.
    partx -u "$disk" 2>/dev/null || true
}

make_filesystems() {
    local disk=$1
    mkfs.fat -F 32 -n EFI-SYSTEM "$(partition "$disk" "$PART_ESP")" >/dev/null
    mkfs.ext4 -q -F -L boot "$(partition "$disk" "$PART_BOOT")"
    mkfs.xfs -q -f -L root "$(partition "$disk" "$PART_ROOT")"
    mkdir -p "$MNT"
    mount "$(partition "$disk" "$PART_ROOT")" "$MNT"
    mkdir -p "$MNT/boot"
    mount "$(partition "$disk" "$PART_BOOT")" "$MNT/boot"
}

add_remote() {  # REPO
    local keys
    if [ "$VERIFY_SIGNATURES" != true ]; then
        echo "the stream does not require signatures: pulling $COMMIT with gpg-verify=false"
        ostree --repo="$1" remote add --set=gpg-verify=false atomic-release "$REPO_URL" "$REF"
        return 0
    fi
    keys=$(mktemp)
    printf '%s\n' "$TRUSTED_KEYS" >"$keys"
    # With no key that imports, the remote add fails: nothing is pulled unverified.
    ostree --repo="$1" remote add --set=gpg-verify=true --gpg-import="$keys" atomic-release "$REPO_URL" "$REF"
    rm -f "$keys"
    echo "pulling $COMMIT with gpg-verify=true: it must be signed by one of the stream's trusted keys"
}

# How ostree words a refusal by gpg-verify: no signature, an unknown key, a bad or expired one.
SIGNATURE_REFUSAL='gpg|signature|public key|keyring|key expired|key revoked'

pull_commit() {  # REPO: a refusal by signature is named as such, not only as ostree words it
    local output message
    if output=$(ostree --repo="$1" pull atomic-release "$COMMIT" 2>&1); then
        [ -z "$output" ] || printf '%s\n' "$output"
        return 0
    fi
    printf '%s\n' "$output"
    message=${output//$'\n'/ }
    message=${message#error: }
    message=${message#"Commit $COMMIT: "}
    if [ "$VERIFY_SIGNATURES" = true ] && [[ ${message,,} =~ $SIGNATURE_REFUSAL ]]; then
        echo "the signature of $REF $COMMIT did not verify against the stream's trusted keys: $message" >&2
    fi
    return 1
}

deploy_with_ostree() {
    local karg
    local kargs=(--karg=root=LABEL=root --karg=rw)
    for karg in $KERNEL_ARGUMENTS; do kargs+=("--karg-append=$karg"); done
    ostree admin init-fs "$MNT"
    ostree admin os-init --sysroot="$MNT" "$OSNAME"
    add_remote "$MNT/ostree/repo"
    pull_commit "$MNT/ostree/repo"
    ostree --repo="$MNT/ostree/repo" refs --create="atomic-release:$REF" "$COMMIT"
    ostree admin deploy --sysroot="$MNT" --os="$OSNAME" "${kargs[@]}" "$COMMIT"
}

boot_entry() {
    local entries=("$MNT"/boot/loader/entries/*.conf)
    if [ "${#entries[@]}" != 1 ] || ! [ -f "${entries[0]}" ]; then
        echo "expected one boot entry after the deployment, found: ${entries[*]}" >&2
        return 1
    fi
    echo "${entries[0]}"
}

deployment_dir() {
    echo "$MNT/ostree/deploy/$OSNAME/deploy/$(deployment_commit "$MNT" "$(boot_entry)").0"
}

# GRUB's menu, made from the deployment's BLS entry: the builder's GRUB does not read BLS.
write_grub_config() {
    local entry title linux initrd options
    entry=$(boot_entry)
    title=$(sed -n 's/^title //p' "$entry")
    linux=$(sed -n 's/^linux //p' "$entry")
    initrd=$(sed -n 's/^initrd //p' "$entry")
    options=$(sed -n 's/^options //p' "$entry")
    mkdir -p "$MNT/boot/grub"
    cat >"$MNT/boot/grub/grub.cfg" <<EOF
# Made by the atomic-release builder from ${entry##*/}
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=1
search --no-floppy --label boot --set root
set firstboot=
if [ -f (\$root)/ignition.firstboot ]; then set firstboot="ignition.firstboot"; fi
menuentry '$title' {
    linux $linux $options \$firstboot
    initrd $initrd
}
EOF
}

install_grub_efi() {
    local disk=$1 format binary work
    case $ARCH in
        x86_64) format=x86_64-efi binary=BOOTX64.EFI ;;
        arm64) format=arm64-efi binary=BOOTAA64.EFI ;;
    esac
    work=$(mktemp -d)
    cat >"$work/early.cfg" <<'EOF'
search --no-floppy --label boot --set root
set prefix=($root)/grub
configfile ($root)/grub/grub.cfg
EOF
    grub-mkimage -O "$format" -o "$work/$binary" -p /grub -c "$work/early.cfg" \
        part_gpt fat ext2 xfs search search_label normal configfile linux echo test serial terminal gzio
    # mtools writes the ESP without mounting it: not every builder kernel can mount vfat.
    mmd -i "$(partition "$disk" "$PART_ESP")" ::/EFI ::/EFI/BOOT
    mcopy -i "$(partition "$disk" "$PART_ESP")" "$work/$binary" "::/EFI/BOOT/$binary"
    rm -rf "$work"
}

install_bootloader() {
    local disk=$1 deployment
    deployment=$(deployment_dir)
    if [ -d "$deployment/usr/lib/bootupd/updates" ]; then
        # The commit carries its own bootloader, as Fedora's do: install that one.
        command -v bootupctl >/dev/null || { echo "the commit carries bootupd's payload: bootupctl is required" >&2; return 1; }
        bootupctl backend install --src-root "$deployment" --device "$disk" --with-static-configs "$MNT"
        return 0
    fi
    write_grub_config
    install_grub_efi "$disk"
    if [ "$ARCH" = x86_64 ]; then
        grub-install --target=i386-pc --boot-directory="$MNT/boot" --modules="part_gpt ext2" "$disk"
    fi
}

install_with_ostree() {
    local disk=$1
    partition_disk "$disk"
    make_filesystems "$disk"
    deploy_with_ostree
    install_bootloader "$disk"
    if [ "$FIRSTBOOT" = ignition ]; then
        touch "$MNT/boot/ignition.firstboot"
    fi
}

install_with_bootc() {
    local disk=$1
    podman run --rm --privileged --pid=host -v /dev:/dev -v /var/lib/containers:/var/lib/containers \
        --security-opt label=type:unconfined_t "$CONTAINER_IMAGE" \
        bootc install to-disk --wipe --filesystem xfs "$disk"
    partx -u "$disk" 2>/dev/null || true
    mkdir -p "$MNT"
    # bootc's layout differs by architecture: find the filesystems by label
    mount "$(labelled "$disk" root)" "$MNT"
    mount "$(labelled "$disk" boot)" "$MNT/boot"
}

labelled() {  # DISK LABEL
    lsblk -nrpo NAME,LABEL "$1" | awk -v label="$2" '$2 == label {print $1; exit}'
}

volume_id() {  # DISK: EBS names an NVMe disk by its volume id, without the dash
    local link
    for link in "$DISK_BY_ID"/nvme-Amazon_Elastic_Block_Store_vol*; do
        if [ -e "$link" ] && [ "$(readlink -f "$link")" = "$1" ]; then
            link=${link##*_vol}
            echo "vol-${link%%-*}"
            return 0
        fi
    done
}

# -- the downloadable images --------------------------------------------------------------------
# S3 path-style, ENDPOINT/BUCKET/KEY: the one form that works alike for the regional endpoint, a
# VPC interface endpoint and an address without a name (locally), and for a bucket whose name
# has dots (no wildcard certificate covers those). Every query is written in SigV4's canonical
# form (sorted, `name=value`, values encoded), so any curl signs it as S3 checks it.
s3() {  # METHOD KEY QUERY BODY-FILE CURL-ARGUMENTS...: BODY-FILE "" for none
    local method=$1 key=$2 query=$3 body=$4 sum
    shift 4
    # S3 wants the body's sha256 in every signed request, and checks it; curl sends it if told.
    if [ -n "$body" ]; then
        sum=$(sha256sum <"$body")
        set -- -H "x-amz-content-sha256: ${sum%% *}" "$@"
        if [ "$method" = PUT ]; then set -- -T "$body" "$@"; else set -- --data-binary "@$body" "$@"; fi
    else
        set -- -H "x-amz-content-sha256: $(printf '' | sha256sum | cut -d ' ' -f 1)" "$@"
    fi
    aws_request s3 -X "$method" "$@" "$S3_ENDPOINT/$ARTIFACT_BUCKET/$key${query:+?$query}"
}

uri_encode() {  # TEXT: percent-encoded as SigV4 encodes a query value
    local index char
    for ((index = 0; index < ${#1}; index++)); do
        char=${1:index:1}
        case $char in [A-Za-z0-9._~-]) printf '%s' "$char" ;; *) printf '%%%02X' "'$char" ;; esac
    done
}

create_multipart_upload() {  # KEY: prints the upload id
    local answer upload
    answer=$(s3 POST "$1" uploads= "" -H "Content-Type: application/x-xz") || answer="failed: $answer"
    upload=$(printf '%s' "$answer" | tr -d '\n' | sed -n 's:.*<UploadId>\([^<]*\)</UploadId>.*:\1:p')
    if [ -z "$upload" ]; then
        echo "CreateMultipartUpload of $1 answered no upload id: $answer" >&2
        return 1
    fi
    printf '%s\n' "$upload"
}

# stdin, PART_BYTES at a time (`head -c` never reads past its count), one part file at a time;
# each part is sent with its real sha256, which S3 checks. RECORD gets "NUMBER ETAG SIZE" lines.
upload_parts() {  # KEY UPLOAD-ID RECORD
    local key=$1 query record=$3 number=1 part size headers etag
    query="uploadId=$(uri_encode "$2")"
    part=$(mktemp -p "$WORK" part.XXXXXX)
    : >"$record"
    while :; do
        head -c "$PART_BYTES" >"$part"
        size=$(stat -c %s "$part")
        if [ "$size" = 0 ] && [ "$number" -gt 1 ]; then break; fi
        if ! headers=$(s3 PUT "$key" "partNumber=$number&$query" "$part" -D - -o "$part.answer"); then
            echo "UploadPart $number of $key failed: $(cat "$part.answer" 2>/dev/null)" >&2
            return 1
        fi
        etag=$(printf '%s' "$headers" | tr -d '\r' | sed -n 's/^[Ee][Tt][Aa][Gg]: *//p')
        if [ -z "$etag" ]; then
            echo "UploadPart $number of $key answered no ETag" >&2
            return 1
        fi
        printf '%s %s %s\n' "$number" "$etag" "$size" >>"$record"
        [ "$size" = "$PART_BYTES" ] || break
        number=$((number + 1))
    done
    rm -f "$part" "$part.answer"
}

complete_multipart_upload() {  # KEY UPLOAD-ID RECORD
    local body number etag size answer
    body=$(mktemp -p "$WORK" complete.XXXXXX)
    {
        printf '<CompleteMultipartUpload>'
        while read -r number etag size; do
            printf '<Part><PartNumber>%s</PartNumber><ETag>%s</ETag></Part>' "$number" "$etag"
        done <"$3"
        printf '</CompleteMultipartUpload>'
    } >"$body"
    answer=$(s3 POST "$1" "uploadId=$(uri_encode "$2")" "$body" -H "Content-Type: application/xml") || true
    rm -f "$body"
    # S3 may answer 200 and still fail: the error is in the body.
    if [[ $answer == *"<Error>"* ]] || [[ $answer != *"<CompleteMultipartUploadResult"* ]]; then
        echo "CompleteMultipartUpload of $1 failed: $answer" >&2
        return 1
    fi
}

abandon_upload() {  # the multipart upload under way, if any: its parts are deleted
    [ -n "$PENDING_UPLOAD" ] || return 0
    echo "aborting the multipart upload of ${PENDING_UPLOAD%% *}"
    s3 DELETE "${PENDING_UPLOAD%% *}" "uploadId=$(uri_encode "${PENDING_UPLOAD#* }")" "" -o /dev/null
    PENDING_UPLOAD=""
}

hashed() {  # SUM-FILE: stdin to stdout; its sha256 in SUM-FILE once all went through
    tee >(sha256sum >"$1") && wait "$!"
}

compressed() {  # PLAIN-SUM-FILE XZ-SUM-FILE: stdin xz-compressed to stdout, with both sums
    hashed "$1" | xz -T0 "-$XZ_PRESET" -c | hashed "$2"
}

used_bytes() {  # MOUNTPOINT...: the bytes the filesystems hold
    df -B1 --output=used "$@" | awk 'NR > 1 {used += $1} END {printf "%.0f\n", used}'
}

# A qcow2 holds the disk's data clusters only: about what its filesystems use, with their
# metadata. It needs a seekable file, so it is written to scratch space, checked first.
qcow2_of() {  # DISK USED-BYTES FILE
    local needed available
    needed=$(($2 + $2 / 10 + (256 << 20)))
    available=$(df -B1 --output=avail "$(dirname "$3")" | tail -n 1)
    if [ "$available" -lt "$needed" ]; then
        echo "not enough free space for the qcow2 image in $(dirname "$3"): about $needed bytes needed," \
            "$available available" >&2
        return 1
    fi
    qemu-img convert -O qcow2 "$1" "$3"
}

sum_of() {  # SUM-FILE: the hex digest sha256sum wrote
    local line
    read -r line _ <"$1"
    printf '%s' "$line"
}

upload_image() {  # FORMAT FILE-NAME SOURCE: SOURCE compressed and uploaded; appends to ARTIFACTS
    local key="$STAGING_PREFIX$2" upload size
    upload=$(create_multipart_upload "$key")
    PENDING_UPLOAD="$key $upload"
    compressed "$WORK/plain.sum" "$WORK/xz.sum" <"$3" | upload_parts "$key" "$upload" "$WORK/parts"
    complete_multipart_upload "$key" "$upload" "$WORK/parts"
    PENDING_UPLOAD=""
    size=$(awk '{size += $3} END {printf "%.0f\n", size}' "$WORK/parts")
    echo "uploaded $1 as $key: $size bytes, sha256 $(sum_of "$WORK/xz.sum")"
    ARTIFACTS+="${ARTIFACTS:+,}{\"format\":\"$1\",\"key\":$(json_string "$key"),\"size\":$size,"
    ARTIFACTS+="\"sha256\":\"$(sum_of "$WORK/xz.sum")\",\"uncompressed_sha256\":\"$(sum_of "$WORK/plain.sum")\"}"
}

make_artifacts() {  # DISK USED-BYTES: raw.xz, then qcow2.xz, each uploaded as it is made
    ARTIFACTS=""
    mkdir -p "$SCRATCH"
    WORK=$(mktemp -d -p "$SCRATCH")
    upload_image raw.xz "$RAW_FILE" "$1"
    qcow2_of "$1" "$2" "$WORK/disk.qcow2"
    upload_image qcow2.xz "$QCOW2_FILE" "$WORK/disk.qcow2"
    rm -rf "$WORK"
}

main() {
    local disk volume deployed instance_id used
    exec >>"$LOG" 2>&1
    trap report_failure ERR
    shutdown -P "+$DEADLINE_MINUTES" "atomic-release builder deadline reached"
    if [ "$ARCH" = x86_64 ]; then PART_ESP=2 PART_BOOT=3 PART_ROOT=4; else PART_ESP=1 PART_BOOT=2 PART_ROOT=3; fi
    ensure_tools
    send_heartbeats &
    HEARTBEAT_PID=$!

    disk=$(target_disk)
    volume=$(volume_id "$disk")
    if ! [[ $volume =~ ^vol-[0-9a-f]+$ ]]; then
        echo "cannot tell the target disk's volume id: no EBS link to $disk in $DISK_BY_ID" >&2
        false
    fi
    echo "installing $COMMIT from $REPO_URL ($REF) onto $disk ($volume) by $INSTALL_METHOD"
    case $INSTALL_METHOD in
        ostree) install_with_ostree "$disk" ;;
        bootc) install_with_bootc "$disk" ;;
        *) echo "unknown install method $INSTALL_METHOD" >&2; false ;;
    esac

    deployed=$(deployment_commit "$MNT" "$(boot_entry)")
    if [ "$deployed" != "$COMMIT" ]; then
        echo "deployed commit ${deployed:-(none)} is not the requested $COMMIT" >&2
        false
    fi

    instance_id=$(imds instance-id)
    used=$(used_bytes "$MNT" "$MNT/boot")
    sync
    umount -R "$MNT"
    # The snapshot is taken later of this same volume, unchanged: the images hold its bytes.
    make_artifacts "$disk" "$used"
    kill "$HEARTBEAT_PID" 2>/dev/null || true
    report_success "{\"instance_id\":\"$instance_id\",\"volume_id\":\"$volume\",\"commit\":\"$deployed\",\"artifacts\":[$ARTIFACTS]}" >/dev/null
    echo "reported $deployed on $volume"
    poweroff
}

# Run, not sourced: `return` succeeds only in a sourced file.
if ! (return 0 2>/dev/null); then main; fi
