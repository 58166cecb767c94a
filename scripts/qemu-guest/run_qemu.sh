#!/bin/bash
# run_qemu.sh NETNS TAP [NICMODEL] [-- EXTRA QEMU ARGS...]
#   (Adapted from the provided material /work/shared/qemu-guest/run_qemu.sh: build directory under
#   the workspace's target/. See README.md here.)
#   Boot the test guest (built by prepare.sh) with its NIC on an existing TAP device and print its
#   serial console, each line prefixed with seconds since QEMU was started. Exit status is QEMU's
#   (124 if TIMEOUT expired).
#
#   NETNS     network namespace that owns TAP ("-" = the current namespace)
#   TAP       tap device name, e.g. tap0 (created beforehand with "ip tuntap add dev tap0 mode tap"
#             and usually enslaved to a bridge); QEMU attaches with script=no,downscript=no
#   NICMODEL  guest NIC, default "virtio-net-pci,romfile=" (fastest); "e1000" also works (slower)
#
# Environment (all optional):
#   HVNET_GUEST_DIR  build directory of prepare.sh (default ${CARGO_TARGET_DIR:-<workspace>/target}/qemu-guest)
#   KERNEL           default: HVNET_GUEST_DIR/vmlinux-* (PVH ELF, fastest); a bzImage
#                    (HVNET_GUEST_DIR/kroot/boot/vmlinuz-*) also works, ~3 s slower under TCG
#   INITRD           default: HVNET_GUEST_DIR/initramfs.cpio.gz
#   BIOS             default: /usr/share/qemu/qboot.rom; BIOS= (empty) uses SeaBIOS
#   ACCEL            default: tcg (KVM is not usable on the verification machines)
#   MAC              default: 52:54:00:12:34:56
#   GUEST_LIFE       seconds the guest stays up after READY (default 15; 0 = power off at once)
#   GUEST_ARGS       extra kernel command line (e.g. "iperf=1", "ping_host=10.0.0.1")
#   KQUIET           default "quiet"; KQUIET= shows kernel messages
#   MEM              guest memory in MiB (default 256)
#   TIMEOUT          wall-clock limit in seconds (default 120)
set -uo pipefail

usage() { sed -n '2,6p' "$0" >&2; exit 2; }
[ $# -ge 2 ] || usage
NS=$1 TAP=$2; shift 2
NIC="virtio-net-pci,romfile="
if [ $# -gt 0 ] && [ "$1" != "--" ]; then NIC=$1; shift; fi
[ $# -gt 0 ] && [ "$1" = "--" ] && shift

ws=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
dir=${HVNET_GUEST_DIR:-${CARGO_TARGET_DIR:-$ws/target}/qemu-guest}
KERNEL=${KERNEL:-$(ls -1 "$dir"/vmlinux-* 2>/dev/null | sort -V | tail -n1)}
INITRD=${INITRD:-$dir/initramfs.cpio.gz}
[ -r "$KERNEL" ] || { echo "run_qemu: no kernel (run prepare.sh or set KERNEL)" >&2; exit 1; }
[ -r "$INITRD" ] || { echo "run_qemu: no initramfs $INITRD (run prepare.sh or set INITRD)" >&2; exit 1; }

bios=()
BIOS=${BIOS-/usr/share/qemu/qboot.rom}
[ -n "$BIOS" ] && bios=(-bios "$BIOS")

cmd=(qemu-system-x86_64 -accel "${ACCEL:-tcg}" -m "${MEM:-256}" -smp 1
     -nodefaults -no-user-config -nographic -no-reboot -serial stdio -monitor none
     "${bios[@]}" -kernel "$KERNEL" -initrd "$INITRD"
     -append "console=ttyS0 ${KQUIET-quiet} panic=-1 guest_life=${GUEST_LIFE:-15} ${GUEST_ARGS:-}"
     -netdev "tap,id=n0,ifname=$TAP,script=no,downscript=no"
     -device "$NIC,netdev=n0,mac=${MAC:-52:54:00:12:34:56}"
     "$@")
[ "$NS" = "-" ] || cmd=(ip netns exec "$NS" "${cmd[@]}")

start=$EPOCHREALTIME
timeout "${TIMEOUT:-120}" "${cmd[@]}" </dev/null 2>&1 | while IFS= read -r line; do
    now=$EPOCHREALTIME
    printf '[%6.2f] %s\n' "$(awk -v a="$start" -v b="$now" 'BEGIN{print b-a}')" "$line"
done
exit "${PIPESTATUS[0]}"
