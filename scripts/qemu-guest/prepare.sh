#!/bin/bash
# prepare.sh [OUTDIR] - build (or reuse) the tiny QEMU test guest, from Debian packages only.
#
# Adapted from the provided material /work/shared/qemu-guest/prepare.sh (see README.md here):
# same recipe, plus a build directory under the workspace's target/, a lock and a cache.
#
# Downloads (does not install) Debian's stock kernel package, extracts only the kernel image and
# the NIC modules, writes an uncompressed PVH-bootable vmlinux, then runs build_initramfs.sh.
#
# OUTDIR  where everything goes. Default: $HVNET_GUEST_DIR, else
#         ${CARGO_TARGET_DIR:-<workspace>/target}/qemu-guest. Never inside the source tree
#         (refused unless it is under <workspace>/target).
# KVER    kernel ABI to use (e.g. 6.1.0-56-amd64). Default: what Debian's linux-image-amd64
#         depends on (6.1.0-56-amd64 when this was written and verified).
# FORCE=1 rebuild even when OUTDIR already holds a complete guest.
#
# Cache: OUTDIR/ready records the kernel and a hash of build_initramfs.sh + udhcpc.script; when it
# matches and the files exist, nothing is done (well under 0.1 s). A changed initramfs recipe only
# rebuilds the initramfs. Concurrent callers (parallel tests) serialise on flock(OUTDIR/.lock):
# the first builds, the others wait and then find the cache.
#
# Exit status: 0 ready; 3 a Debian package could not be downloaded (mirror/network unreachable,
# no apt lists: the caller may skip); anything else is a build error.
# Prints OUTDIR on stdout; progress on stderr.
# Result: OUTDIR/vmlinux-$KVER, OUTDIR/kroot/boot/vmlinuz-$KVER, OUTDIR/initramfs.cpio.gz
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ws=$(cd "$here/../.." && pwd)
out=${1:-${HVNET_GUEST_DIR:-${CARGO_TARGET_DIR:-$ws/target}/qemu-guest}}
mkdir -p "$out"
out=$(cd "$out" && pwd)
case "$out/" in
    "$ws/target/"*) ;;
    "$ws/"*) echo "prepare: refusing to build into the source tree ($out)" >&2; exit 2 ;;
esac

# One builder at a time; build_initramfs.sh sees HVNET_GUEST_LOCKED and does not lock again.
exec 9>"$out/.lock"
flock -w 600 9 || { echo "prepare: timed out waiting for $out/.lock" >&2; exit 1; }
export HVNET_GUEST_LOCKED=1

t0=$(date +%s.%N)
recipe=$(cat "$here/build_initramfs.sh" "$here/udhcpc.script" | sha256sum | cut -c1-16)

# The cache: a complete earlier build, kept unless FORCE=1 or another KVER is asked for.
if [ "${FORCE:-0}" != 1 ] && [ -f "$out/ready" ]; then
    ckver=$(sed -n 's/^kver=//p' "$out/ready")
    crecipe=$(sed -n 's/^recipe=//p' "$out/ready")
    if [ -n "$ckver" ] && [ "${KVER:-$ckver}" = "$ckver" ] \
        && [ -s "$out/vmlinux-$ckver" ] && [ -s "$out/kroot/boot/vmlinuz-$ckver" ]; then
        if [ "$crecipe" != "$recipe" ] || [ ! -s "$out/initramfs.cpio.gz" ]; then
            echo "prepare: initramfs recipe changed, rebuilding it" >&2
            KVER=$ckver "$here/build_initramfs.sh" "$out"
            printf 'kver=%s\nrecipe=%s\n' "$ckver" "$recipe" > "$out/ready"
        else
            echo "prepare: cached guest in $out (kernel $ckver)" >&2
        fi
        echo "$out"
        exit 0
    fi
fi
rm -f "$out/ready"

if [ -z "${KVER:-}" ]; then
    KVER=$(apt-cache depends linux-image-amd64 2>/dev/null \
           | sed -n 's/^ *Depends: linux-image-\([0-9][^ ]*-amd64\)$/\1/p' | head -n1 || true)
    KVER=${KVER:-6.1.0-56-amd64}
fi
echo "prepare: kernel $KVER -> $out" >&2

# 1. Download the kernel package (70 MB) unless a copy is already there. apt-get download writes
#    into the current directory; as root it warns that the download is "performed unsandboxed as
#    root" (harmless). Bounded so that an unreachable mirror fails instead of hanging.
#    A failure is remembered for 60 s (OUTDIR/.download-failed), so that callers queued on the
#    lock (parallel tests) fail at once instead of each waiting for the mirror again.
mkdir -p "$out/deb"
deb=$(ls -1 "$out/deb/linux-image-${KVER}_"*_amd64.deb 2>/dev/null | tail -n1 || true)
if [ -z "$deb" ]; then
    if [ -n "$(find "$out/.download-failed" -newermt '-60 seconds' 2>/dev/null)" ]; then
        echo "prepare: DOWNLOAD FAILED less than 60 s ago, not retrying yet:" >&2
        cat "$out/.download-failed" >&2
        exit 3
    fi
    if ! (cd "$out/deb" && timeout 300 apt-get download -q \
            -o Acquire::http::Timeout=20 -o Acquire::Retries=1 "linux-image-$KVER" >&2); then
        echo "prepare: DOWNLOAD FAILED: apt-get download linux-image-$KVER" \
            "(mirror unreachable or no apt lists?)" | tee "$out/.download-failed" >&2
        exit 3
    fi
    rm -f "$out/.download-failed"
    deb=$(ls -1 "$out/deb/linux-image-${KVER}_"*_amd64.deb | tail -n1)
fi

# 2. Extract only what the guest needs: the kernel image and the NIC modules (< 10 MB instead
#    of the full 391 MB module tree).
rm -rf "$out/kroot"
mkdir -p "$out/kroot"
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$out/kroot" --wildcards \
    '*/boot/vmlinuz-*' \
    '*/kernel/drivers/virtio/*.ko*' \
    '*/kernel/net/core/failover.ko*' \
    '*/kernel/drivers/net/net_failover.ko*' \
    '*/kernel/drivers/net/virtio_net.ko*' \
    '*/kernel/drivers/net/ethernet/intel/e1000/e1000.ko*'
[ -s "$out/kroot/boot/vmlinuz-$KVER" ] || { echo "prepare: vmlinuz-$KVER missing in $deb" >&2; exit 1; }

# 3. Uncompressed ELF vmlinux: it carries the PVH ELF note, so QEMU boots it directly and skips
#    the ~3 s in-guest xz decompression under TCG.
python3 - "$out/kroot/boot/vmlinuz-$KVER" "$out/vmlinux-$KVER.tmp" <<'PY'
import lzma, sys
src, dst = sys.argv[1], sys.argv[2]
data = open(src, "rb").read()
off = data.find(b"\xfd7zXZ\x00")
if off < 0:
    sys.exit("prepare: no xz payload found in " + src)
out = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data[off:])
if out[:4] != b"\x7fELF":
    sys.exit("prepare: decompressed payload is not an ELF image")
open(dst, "wb").write(out)
PY
mv -f "$out/vmlinux-$KVER.tmp" "$out/vmlinux-$KVER"

# 4. The initramfs.
KVER=$KVER "$here/build_initramfs.sh" "$out"

# The .deb is no longer needed (kroot/ keeps the kernel and modules): save 70 MB.
[ "${KEEP_DEB:-0}" = 1 ] || rm -f "$deb"
printf 'kver=%s\nrecipe=%s\n' "$KVER" "$recipe" > "$out/ready"
echo "prepare: built in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s:" \
    "$(du -sh "$out" | cut -f1) in $out" >&2
echo "$out"
