# What both guests share: the instance's identity and role credentials from IMDSv2 at
# IMDS_ENDPOINT, and requests to AWS signed with them by `curl --aws-sigv4` (minimal images have
# no AWS CLI), such as Step Functions' JSON protocol at STATES_ENDPOINT. Both endpoints are
# parameters: an IPv6-only instance has IMDS at [fd00:ec2::254], and a guest in a private subnet
# reaches Step Functions through its VPC endpoint.

imds() {
    local token
    token=$(curl -sSf -X PUT "$IMDS_ENDPOINT/latest/api/token" -H "X-aws-ec2-metadata-token-ttl-seconds: 300")
    curl -sSf -H "X-aws-ec2-metadata-token: $token" "$IMDS_ENDPOINT/latest/meta-data/$1"
}

json_string() {
    local text=$1
    text=${text//\\/\\\\}
    text=${text//\"/\\\"}
    text=${text//$'\n'/\\n}
    text=${text//$'\r'/\\r}
    text=${text//$'\t'/\\t}
    printf '"%s"' "$text"
}

role_credentials() {  # the instance profile's credentials, as IMDS hands them out now
    local role
    role=$(imds iam/security-credentials/)
    imds "iam/security-credentials/$role"
}

credential() {  # CREDENTIALS-JSON NAME
    printf '%s' "$1" | sed -n "s/.*\"$2\" *: *\"\\([^\"]*\\)\".*/\\1/p"
}

aws_request() {  # SERVICE CURL-ARGUMENTS...: one request to SERVICE, signed with the instance profile's credentials
    local service=$1 credentials
    shift
    credentials=$(role_credentials)
    # --fail-with-body: a refusal's explanation (S3's XML, Step Functions' JSON) reaches the log.
    curl -sS --fail-with-body --aws-sigv4 "aws:amz:$REGION:$service" \
        --user "$(credential "$credentials" AccessKeyId):$(credential "$credentials" SecretAccessKey)" \
        -H "x-amz-security-token: $(credential "$credentials" Token)" "$@"
}

states() {  # ACTION JSON: one Step Functions call
    aws_request states -H "Content-Type: application/x-amz-json-1.0" -H "X-Amz-Target: AWSStepFunctions.$1" \
        --data "$2" "$STATES_ENDPOINT"
}

report_success() {  # OUTPUT-JSON
    states SendTaskSuccess "{\"taskToken\":$(json_string "$TASK_TOKEN"),\"output\":$(json_string "$1")}"
}

report_failure_of() {  # ERROR CAUSE
    states SendTaskFailure "{\"taskToken\":$(json_string "$TASK_TOKEN"),\"error\":$(json_string "$1"),\"cause\":$(json_string "$2")}"
}

report_heartbeat() {
    states SendTaskHeartbeat "{\"taskToken\":$(json_string "$TASK_TOKEN")}"
}

# The commit of the deployment an ostree= kernel argument boots, from the deployment directory
# it links to, whose name is <commit>.<serial>: never from display text. KERNEL_ARGUMENTS_FILE:
# a Boot Loader Specification entry (its options line) or /proc/cmdline. ROOT: where the root
# filesystem is mounted ("" on the booted system).
deployment_commit() {  # ROOT KERNEL_ARGUMENTS_FILE
    local target
    target=$(tr ' ' '\n' <"$2" | sed -n 's/^ostree=//p' | head -n 1)
    [ -n "$target" ] || return 0
    target=$(readlink -f "$1$target") || return 0
    target=${target##*/}
    printf '%s\n' "${target%.*}"
}
