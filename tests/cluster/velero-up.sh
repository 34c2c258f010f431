# Sourced by ./up --with-velero after the control plane (and the node, if any) is up and the
# Velero CRDs are Established: starts the backup stack out of cluster, on loopback only.
#   minio          the S3 server (bucket `velero`), data under STATE_DIR/velero/s3
#   velero         `velero server` with the AWS object-store plugin, namespace `velero`,
#                  resource backups only (no node agent, no volume snapshots)
# Uses up's helpers (start, wait_for, fail, kc, log) and variables (state, velero_stack_dir,
# timeout). The server is build-velero's velero binary (no listener beyond loopback). See README.md "The backup stack".

velero_state="$state/velero"
velero_bucket="velero"
velero_region="us-east-1"
velero_ns="velero"
rm -rf "$velero_state"
mkdir -p "$velero_state"/{s3,home,tmp}
chmod 700 "$velero_state"

current="velero (ports)"
read -r s3_port s3_console_port velero_metrics_port velero_profiler_port < <(python3 - <<'EOF'
import socket
socks = []
for _ in range(4):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
EOF
) || fail velero "could not pick free loopback ports"
log "ports: s3=$s3_port s3-console=$s3_console_port velero-metrics=$velero_metrics_port velero-profiler=$velero_profiler_port"

# ---- credentials: random per cluster, in files only readable by this user ---------------
umask_before="$(umask)"
umask 077
s3_access_key="baseline$(openssl rand -hex 6)"
s3_secret_key="$(openssl rand -hex 20)"
printf '%s' "$s3_access_key" >"$velero_state/access-key"
printf '%s' "$s3_secret_key" >"$velero_state/secret-key"
# The AWS shared-credentials format, as `velero install --secret-file` expects.
printf '[default]\naws_access_key_id=%s\naws_secret_access_key=%s\n' "$s3_access_key" "$s3_secret_key" \
  >"$velero_state/cloud-credentials"
umask "$umask_before"

# ---- the S3 server --------------------------------------------------------------------
current="minio"
s3_url="http://127.0.0.1:$s3_port"
# MINIO_BROWSER=off: no web console is served; MINIO_UPDATE=off: no update check leaves the
# machine. The console address is still pinned to loopback in case it is ever enabled.
start minio "$s3_port" "$s3_console_port" -- env \
  MINIO_ROOT_USER="$s3_access_key" MINIO_ROOT_PASSWORD="$s3_secret_key" \
  MINIO_BROWSER=off MINIO_UPDATE=off MINIO_CALLHOME_ENABLE=off \
  HOME="$velero_state/home" \
  "$velero_stack_dir/bin/minio" server \
  --address "127.0.0.1:$s3_port" \
  --console-address "127.0.0.1:$s3_console_port" \
  --quiet \
  "$velero_state/s3"
chmod 600 "$state/minio.cmd"
minio_live() { curl -fsS --max-time 2 "$s3_url/minio/health/live"; }
wait_for minio minio_live
s3_curl() { # s3_curl ARGS...: a SigV4-signed request to the S3 server
  curl -fsS --max-time 10 --aws-sigv4 "aws:amz:$velero_region:s3" \
    --user "$s3_access_key:$s3_secret_key" "$@"
}
# MinIO answers its liveness probe before it serves S3 (a 503 while it finishes starting, seen
# on a busy machine): the bucket is asked for until it exists, one an earlier attempt created
# included.
bucket_made() {
  s3_curl -X PUT "$s3_url/$velero_bucket" >>"$state/logs/minio.log" 2>&1 ||
    s3_curl -I "$s3_url/$velero_bucket" >>"$state/logs/minio.log" 2>&1
}
wait_for minio bucket_made
log "minio ready ($s3_url), bucket $velero_bucket created"

# ---- Velero's namespace, credentials Secret and BackupStorageLocation --------------------
current="velero (namespace, secret, location)"
kc create namespace "$velero_ns" >>"$state/logs/velero.log" 2>&1 ||
  kc get namespace "$velero_ns" >/dev/null 2>&1 || fail velero "creating namespace $velero_ns failed"
kc -n "$velero_ns" create secret generic cloud-credentials \
  --from-file=cloud="$velero_state/cloud-credentials" >>"$state/logs/velero.log" 2>&1 ||
  fail velero "creating secret $velero_ns/cloud-credentials failed"
kc apply -f - >>"$state/logs/velero.log" 2>&1 <<EOF || fail velero "creating BackupStorageLocation default failed"
apiVersion: velero.io/v1
kind: BackupStorageLocation
metadata:
  name: default
  namespace: $velero_ns
spec:
  provider: aws
  default: true
  objectStorage:
    bucket: $velero_bucket
  credential:
    name: cloud-credentials
    key: cloud
  config:
    region: $velero_region
    s3ForcePathStyle: "true"
    s3Url: $s3_url
EOF

# Velero's restores read their own Deployment (`velero` in Velero's namespace, for the image of
# the restore helpers they may add); run out of cluster there is none, and every restore ends
# PartiallyFailed with `deployments.apps "velero" not found`. This stands in for it with zero
# replicas: no pod ever starts from it.
kc apply -f - >>"$state/logs/velero.log" 2>&1 <<EOF || fail velero "creating Deployment $velero_ns/velero failed"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: velero
  namespace: $velero_ns
  labels: {component: velero}
spec:
  replicas: 0
  selector: {matchLabels: {component: velero}}
  template:
    metadata: {labels: {component: velero, name: velero}}
    spec:
      containers:
      - name: velero
        image: velero/velero:v1.18.3
EOF

# ---- Velero's identity ----------------------------------------------------------------
# Velero runs as a real install's server does: as its ServiceAccount `velero-server` in its
# namespace (the name Velero's Helm chart gives it; `velero install` names it `velero`), bound
# to cluster-admin as both installs bind it, through a ServiceAccount token, not the admin
# kubeconfig. Its writes then carry the user name `system:serviceaccount:velero:velero-server`
# and no `system:masters` group, so admission policies judge Velero as they would in a cluster.
current="velero (identity)"
velero_sa="velero-server"
kc -n "$velero_ns" create serviceaccount "$velero_sa" >>"$state/logs/velero.log" 2>&1 ||
  kc -n "$velero_ns" get serviceaccount "$velero_sa" >/dev/null 2>&1 ||
  fail velero "creating ServiceAccount $velero_ns/$velero_sa failed"
kc create clusterrolebinding "$velero_sa" --clusterrole cluster-admin \
  --serviceaccount "$velero_ns:$velero_sa" >>"$state/logs/velero.log" 2>&1 ||
  kc get clusterrolebinding "$velero_sa" >/dev/null 2>&1 ||
  fail velero "binding $velero_ns/$velero_sa to cluster-admin failed"
velero_token="$(kc -n "$velero_ns" create token "$velero_sa" --duration 168h 2>>"$state/logs/velero.log")" ||
  fail velero "requesting a token for $velero_ns/$velero_sa failed"
umask 077
cat >"$velero_state/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: baseline-test
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority-data: $(b64 "$pki/ca.crt")
users:
- name: $velero_sa
  user:
    token: $velero_token
contexts:
- name: $velero_sa@baseline-test
  context:
    cluster: baseline-test
    user: $velero_sa
current-context: $velero_sa@baseline-test
EOF
umask "$umask_before"
unset velero_token

# ---- the Velero server ------------------------------------------------------------------
current="velero"
# Out of cluster, so: KUBECONFIG is the ServiceAccount kubeconfig above; HOME is private
# (velero reads its client config from $HOME/.config/velero); TMPDIR is private because
# velero writes the BSL's credential Secret to $TMPDIR/credentials, which parallel clusters
# must not share; the AWS SDK's EC2 metadata lookup is off (nothing but loopback). --schedule-skip-immediately=false
# is velero's default, passed explicitly; note that velero 1.18 still runs a new Schedule
# first at its next cron time after creation, not at once. Kopia pod-volume backups need a
# node agent, which does not run here: backups hold resources only.
start velero "$velero_metrics_port" "$velero_profiler_port" -- env \
  KUBECONFIG="$velero_state/kubeconfig" HOME="$velero_state/home" TMPDIR="$velero_state/tmp" \
  VELERO_NAMESPACE="$velero_ns" AWS_EC2_METADATA_DISABLED=true \
  "$velero_stack_dir/bin/velero" server \
  --namespace "$velero_ns" \
  --plugin-dir "$velero_stack_dir/plugins" \
  --metrics-address "127.0.0.1:$velero_metrics_port" \
  --profiler-address "127.0.0.1:$velero_profiler_port" \
  --schedule-skip-immediately=false \
  --default-volumes-to-fs-backup=false \
  --uploader-type kopia \
  --log-level info
bsl_available() {
  [[ "$(kc -n "$velero_ns" get backupstoragelocation default -o 'jsonpath={.status.phase}')" == Available ]]
}
wait_for velero bsl_available
log "velero server running; BackupStorageLocation $velero_ns/default is Available ($s3_url/$velero_bucket)"

cat >"$velero_state/env" <<EOF
export CLUSTER_S3_ENDPOINT='$s3_url'
export CLUSTER_S3_BUCKET='$velero_bucket'
export CLUSTER_S3_REGION='$velero_region'
export CLUSTER_S3_ACCESS_KEY_FILE='$velero_state/access-key'
export CLUSTER_S3_SECRET_KEY_FILE='$velero_state/secret-key'
export CLUSTER_VELERO_NAMESPACE='$velero_ns'
export CLUSTER_VELERO_KUBECONFIG='$velero_state/kubeconfig'
export CLUSTER_VELERO_METRICS_PORT=$velero_metrics_port
EOF
