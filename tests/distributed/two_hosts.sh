#!/usr/bin/env bash
# Two machines inside this one: two network namespaces joined by a veth pair
# (10.77.0.1/24 and 10.77.0.2/24, private test addresses, made and removed here),
# each with its own host name. mpirun runs in the first and starts the second's
# ranks through a plm_rsh_agent that enters the namespace instead of ssh-ing;
# every byte between ranks goes over Open MPI's TCP transport on the veth.
#   two_hosts.sh MPIRUN PROGRAM [ARGS...]     one rank per "host"
# Exits 77 (CTest's SKIP_RETURN_CODE) where namespaces cannot be made.
set -uo pipefail
mpirun="$1"
shift
skip() {
  echo "two_hosts: SKIPPED: $1 (this test needs root and network namespaces: ip netns, veth)"
  exit 77
}
[[ $(id -u) -eq 0 ]] || skip "not running as root"
command -v ip >/dev/null || skip "the ip command (iproute2) is missing"
command -v unshare >/dev/null || skip "the unshare command (util-linux) is missing"

id=$$
ns_a="xgrad-a-$id" ns_b="xgrad-b-$id"
work=$(mktemp -d)
cleanup() {
  ip netns del "$ns_a" 2>/dev/null
  ip netns del "$ns_b" 2>/dev/null  # deleting a namespace deletes its end of the veth pair, hence both
  rm -rf "$work"
}
trap cleanup EXIT
trap "exit 1" INT TERM  # a timeout kill still removes the namespaces
ip netns add "$ns_a" 2>/dev/null || skip "cannot create a network namespace"
ip netns add "$ns_b" || skip "cannot create a second network namespace"
ip link add "xgva$id" type veth peer name "xgvb$id" 2>/dev/null || skip "cannot create a veth pair"
set -e
ip link set "xgva$id" netns "$ns_a"
ip link set "xgvb$id" netns "$ns_b"
# The same interface name on both hosts, so one --mca ..._if_include fits both.
ip -n "$ns_a" link set "xgva$id" name xgveth0
ip -n "$ns_b" link set "xgvb$id" name xgveth0
ip -n "$ns_a" addr add 10.77.0.1/24 dev xgveth0
ip -n "$ns_b" addr add 10.77.0.2/24 dev xgveth0
for ns in "$ns_a" "$ns_b"; do
  ip -n "$ns" link set lo up
  ip -n "$ns" link set xgveth0 up
done

# Open MPI's "ssh": `agent HOST COMMAND...`, where COMMAND is a shell command line.
cat >"$work/agent.sh" <<AGENT
#!/bin/sh
host="\$1"
shift
case "\$host" in
  10.77.0.1) ns="$ns_a" name=xgrad-host-a ;;
  10.77.0.2) ns="$ns_b" name=xgrad-host-b ;;
  *) echo "agent.sh: unknown host \$host" >&2; exit 1 ;;
esac
exec ip netns exec "\$ns" unshare --uts sh -c "hostname \$name; \$*"
AGENT
chmod +x "$work/agent.sh"
printf '10.77.0.1 slots=1\n10.77.0.2 slots=1\n' >"$work/hosts"
run() {
  ip netns exec "$ns_a" unshare --uts sh -c 'hostname xgrad-host-a; exec "$@"' sh \
    "$mpirun" --allow-run-as-root -np 2 --hostfile "$work/hosts" \
    --mca plm_rsh_agent "$work/agent.sh" \
    --mca btl tcp,self --mca btl_tcp_if_include xgveth0 --mca oob_tcp_if_include xgveth0 \
    -x LSAN_OPTIONS "$@"
}
set +e
# One rank on each host, or the test proves nothing.
hosts=$(run hostname | sort | tr '\n' ' ')
if [[ "$hosts" != "xgrad-host-a xgrad-host-b " ]]; then
  echo "two_hosts: FAILED: expected one rank on each host, the ranks ran on: $hosts" >&2
  exit 1
fi
start=$(date +%s)
run "$@"
status=$?
echo "two_hosts: the job ended with status $status after $(( $(date +%s) - start )) s"
exit $status
