//! Real pods on the test node: tiny HTTP servers and a client to probe them, all from the
//! locally built busybox image. Every probe is one bounded connection attempt (`nc -w 2`
//! under `timeout 5`, through a `kubectl exec` with a request timeout) to a pod IP of this
//! cluster's own pod network; waits retry a bounded number of times.

use crate::support::*;
use std::time::Duration;

/// The busybox image `tests/cluster/build-node` builds and `up --with-node` imports.
pub const BUSYBOX: &str = "localhost/baseline-test/busybox:1";
/// How many times a wait probes before it fails, one probe per second at most.
pub const MAX_PROBES: usize = 20;

/// A securityContext the Pod Security `restricted` level admits, so that these pods run in
/// namespaces where the operator enforces it.
const RESTRICTED: &str = r#"{"runAsNonRoot": true, "runAsUser": 65534, "runAsGroup": 65534, "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}"#;

fn pod_yaml(ns: &str, name: &str, labels: &str, script: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: {ns}, labels: {{{labels}}}}}
spec:
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: {BUSYBOX}
    imagePullPolicy: Never
    command: ["/bin/sh", "-c", {script:?}]
    securityContext: {RESTRICTED}
    resources: {{limits: {{cpu: 100m, memory: 32Mi}}}}
"#
    )
}

/// Starts a pod serving `ok <port>` over HTTP on each of `ports`, waits until it runs and
/// returns its IP.
pub fn server(ns: &str, name: &str, labels: &str, ports: &[u16]) -> String {
    let mut script = String::from("mkdir -p /tmp/www && ");
    for (i, port) in ports.iter().enumerate() {
        // Each port gets its own document root, so a reply names the port that served it.
        script.push_str(&format!(
            "mkdir -p /tmp/www/{port} && echo 'ok {port}' > /tmp/www/{port}/index.html && "
        ));
        if i + 1 == ports.len() {
            script.push_str(&format!("exec httpd -f -p {port} -h /tmp/www/{port}"));
        } else {
            script.push_str(&format!("httpd -p {port} -h /tmp/www/{port} && "));
        }
    }
    start(ns, name, labels, &script)
}

/// Starts a pod that only sleeps, to run probes from; returns its IP.
pub fn prober(ns: &str, name: &str, labels: &str) -> String {
    start(ns, name, labels, "exec sleep 3600")
}

fn start(ns: &str, name: &str, labels: &str, script: &str) -> String {
    let c = cluster();
    c.kubectl(&[
        "delete",
        "pod",
        name,
        "-n",
        ns,
        "--ignore-not-found",
        "--wait",
    ]);
    c.apply_yaml(&pod_yaml(ns, name, labels, script))
        .unwrap_or_else(|e| panic!("creating pod {ns}/{name}: {e}"));
    let waited = c.kubectl(&[
        "wait",
        "--for=condition=Ready",
        "--timeout=90s",
        "-n",
        ns,
        &format!("pod/{name}"),
    ]);
    if !waited.status.success() {
        let describe = c.kubectl(&["describe", "pod", name, "-n", ns]);
        panic!(
            "pod {ns}/{name} not Ready: {}\n{}\n{}",
            String::from_utf8_lossy(&waited.stderr),
            String::from_utf8_lossy(&describe.stdout),
            node_state(c)
        );
    }
    let ip = c.kubectl_ok(&[
        "get",
        "pod",
        name,
        "-n",
        ns,
        "-o",
        "jsonpath={.status.podIP}",
    ]);
    assert!(
        ip.starts_with("10.244."),
        "pod {ns}/{name} has IP {ip:?}, not one of the node's pod network"
    );
    ip
}

/// What a pod that was never scheduled or never became Ready needs explained: the node's
/// taints and conditions (a taint the node lifecycle controller added says which condition
/// turned) and the end of the kubelet's log, read from the cluster's state directory.
fn node_state(c: &Cluster) -> String {
    let node = c.kubectl(&["describe", "nodes"]);
    let state = c.kubeconfig.parent().map(|d| d.join("logs/kubelet.log"));
    let kubelet = state
        .and_then(|log| std::fs::read_to_string(log).ok())
        .map(|log| {
            let lines: Vec<&str> = log.lines().collect();
            lines[lines.len().saturating_sub(40)..].join("\n")
        })
        .unwrap_or_else(|| "(no kubelet log in the cluster's state directory)".to_string());
    format!(
        "--- kubectl describe nodes\n{}\n--- the kubelet log's last lines\n{kubelet}",
        String::from_utf8_lossy(&node.stdout)
    )
}

/// One connection attempt from pod `ns/from` to `ip:port`: true when the server answered
/// `ok <port>`.
pub fn connects(ns: &str, from: &str, ip: &str, port: u16) -> bool {
    assert!(
        ip.starts_with("10.244."),
        "probes only target the node's own pods, not {ip}"
    );
    // busybox's `nc`, not its `wget`: Debian's static busybox `wget` segfaults in an image
    // without glibc's NSS files, while `nc` connects to a literal IP without them.
    let script = format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | timeout 5 nc -w 2 {ip} {port}");
    let out = cluster().kubectl(&[
        "exec",
        "--request-timeout=20s",
        "-n",
        ns,
        from,
        "--",
        "sh",
        "-c",
        &script,
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // An exec that could not run at all is no evidence either way.
    assert!(
        !stderr.contains("error dialing backend")
            && !stderr.contains("unable to upgrade connection")
            && !stderr.contains("container not found"),
        "kubectl exec into {ns}/{from} failed: {stderr}"
    );
    out.status.success() && stdout.lines().last().map(str::trim) == Some(&format!("ok {port}"))
}

/// Probes until `ns/from -> ip:port` connects (`want` true) or fails (`want` false), at most
/// MAX_PROBES times; panics with `what` when it never does. Policies take a moment to reach
/// the node's firewall, so a single probe right after a change would race it.
pub fn wait_reachability(what: &str, ns: &str, from: &str, ip: &str, port: u16, want: bool) {
    for _ in 0..MAX_PROBES {
        let started = std::time::Instant::now();
        if connects(ns, from, ip, port) == want {
            return;
        }
        std::thread::sleep(Duration::from_secs(1).saturating_sub(started.elapsed()));
    }
    panic!(
        "{what}: {ns}/{from} -> {ip}:{port} still {} after {MAX_PROBES} probes",
        if want { "unreachable" } else { "reachable" }
    );
}

/// Asserts `ns/from -> ip:port` keeps the expected reachability over three probes: a state
/// that was reached once must hold, not flap.
pub fn assert_steady(what: &str, ns: &str, from: &str, ip: &str, port: u16, want: bool) {
    for attempt in 0..3 {
        assert_eq!(
            connects(ns, from, ip, port),
            want,
            "{what} (probe {attempt}): {ns}/{from} -> {ip}:{port}"
        );
    }
}
