#!/bin/bash
# build_initramfs.sh [OUTDIR] [--iperf3] - build the tiny busybox initramfs for the test guest.
#
# Adapted from the provided material /work/shared/qemu-guest/build_initramfs.sh (see README.md
# here): default OUTDIR under the workspace's target/, a lock, exit status 3 for a failed
# download, and the guest's address in the "dhcp done" marker. Usually run by prepare.sh.
#
# OUTDIR must already hold kroot/ from prepare.sh (default: $HVNET_GUEST_DIR, else
# ${CARGO_TARGET_DIR:-<workspace>/target}/qemu-guest).
# --iperf3  also pack /usr/bin/iperf3 and its shared libraries (resolved with ldd); the guest then
#           starts "iperf3 -s" when the kernel command line has iperf=1.
#           Output: OUTDIR/initramfs-iperf.cpio.gz instead of OUTDIR/initramfs.cpio.gz.
#
# Needs: cpio, gzip; a static busybox (see below); python3 only if the kernel modules are
#        xz-compressed (.ko.xz).
#
# Guest behaviour (/init): mount proc/sys/devtmpfs, insmod the virtio/e1000 NIC modules, DHCP on
# eth0 with udhcpc (udhcpc.script from this folder), ping the DHCP router 3 times 0.2 s apart
# (or ping_host=IP from the kernel command line), start "httpd -p 80" serving
# "hello-from-qemu-guest", stay up guest_life=N seconds (kernel command line; default 20), then
# power off. Serial markers:
#   GUEST: init start uptime=..   GUEST: eth0 <mac> driver=..   GUEST: dhcp done uptime=.. ip=A/N
#   GUEST: PING-HOST-OK           GUEST: httpd started          GUEST: READY uptime=..
#   GUEST: poweroff
# Exit status: 0 built; 3 busybox-static could not be downloaded; anything else an error.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out= iperf=0
for a in "$@"; do
    case "$a" in
        --iperf3) iperf=1 ;;
        -*) echo "usage: $0 [OUTDIR] [--iperf3]" >&2; exit 2 ;;
        *) out=$a ;;
    esac
done
ws=$(cd "$here/../.." && pwd)
out=${out:-${HVNET_GUEST_DIR:-${CARGO_TARGET_DIR:-$ws/target}/qemu-guest}}
out=$(cd "$out" && pwd)

# prepare.sh already holds the lock (and says so); a direct call takes it here.
if [ -z "${HVNET_GUEST_LOCKED:-}" ]; then
    exec 9>"$out/.lock"
    flock -w 600 9 || { echo "build_initramfs: timed out waiting for $out/.lock" >&2; exit 1; }
fi

if [ -z "${KVER:-}" ]; then
    KVER=$(ls -1 "$out/kroot/boot/" 2>/dev/null | sed -n 's/^vmlinuz-//p' | sort -V | tail -n1)
fi
[ -n "$KVER" ] || { echo "build_initramfs: no kernel in $out/kroot (run prepare.sh first)" >&2; exit 1; }
mods=$(ls -1d "$out"/kroot/*lib/modules/"$KVER"/kernel "$out"/kroot/usr/lib/modules/"$KVER"/kernel 2>/dev/null | head -n1 || true)
[ -n "$mods" ] || { echo "build_initramfs: no modules for $KVER under $out/kroot" >&2; exit 1; }

# A statically linked busybox: $BUSYBOX, else /usr/bin/busybox if it is static (package
# busybox-static), else the binary from the busybox-static package, downloaded and extracted into
# OUTDIR without installing it (installing busybox-static would remove the busybox package).
is_static() { [ -x "$1" ] && ! ldd "$1" >/dev/null 2>&1; }
bb=${BUSYBOX:-}
if [ -z "$bb" ]; then
    if is_static /usr/bin/busybox; then
        bb=/usr/bin/busybox
    else
        bb="$out/busybox-static/bin/busybox"
        if ! is_static "$bb"; then
            mkdir -p "$out/deb"
            debs=$(ls -1 "$out"/deb/busybox-static_*.deb 2>/dev/null | tail -n1 || true)
            if [ -z "$debs" ]; then
                if ! (cd "$out/deb" && timeout 120 apt-get download -q \
                        -o Acquire::http::Timeout=20 -o Acquire::Retries=1 busybox-static >&2); then
                    echo "build_initramfs: DOWNLOAD FAILED: apt-get download busybox-static (mirror unreachable or no apt lists?)" >&2
                    exit 3
                fi
                debs=$(ls -1 "$out"/deb/busybox-static_*.deb | tail -n1)
            fi
            rm -rf "$out/busybox-static"
            dpkg-deb -x "$debs" "$out/busybox-static"
            [ -x "$bb" ] || bb=$(find "$out/busybox-static" -type f -name busybox | head -n1)
        fi
    fi
fi
is_static "$bb" || { echo "build_initramfs: no statically linked busybox (set BUSYBOX=)" >&2; exit 1; }

R="$out/initramfs-root"
rm -rf "$R"
mkdir -p "$R"/{bin,sbin,proc,sys,dev,etc,tmp,www,lib/modules}
cp "$bb" "$R/bin/busybox"

# NIC modules, in load order (dependencies first; read from the depends= field of each .ko).
order="virtio_ring virtio virtio_mmio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci failover net_failover virtio_net e1000"
for m in $order; do
    f=$(find "$mods" -name "$m.ko" -o -name "$m.ko.xz" | head -n1)
    if [ -z "$f" ]; then
        echo "build_initramfs: warning: module $m not found for $KVER, skipped" >&2
        continue
    fi
    case "$f" in
        *.ko.xz) python3 -c 'import lzma,sys; open(sys.argv[2],"wb").write(lzma.open(sys.argv[1]).read())' "$f" "$R/lib/modules/$m.ko" ;;
        *) cp "$f" "$R/lib/modules/$m.ko" ;;
    esac
done

echo "hello-from-qemu-guest" > "$R/www/index.html"
cp "$here/udhcpc.script" "$R/etc/udhcpc.script"
chmod +x "$R/etc/udhcpc.script"

cat > "$R/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/usr/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
echo "GUEST: init start uptime=\$(cut -d' ' -f1 /proc/uptime)"
for m in $order; do
  [ -f /lib/modules/\$m.ko ] && insmod /lib/modules/\$m.ko 2>/dev/null
done
ip link set lo up
i=0; while ! ip link show eth0 >/dev/null 2>&1 && [ \$i -lt 50 ]; do sleep 0.1; i=\$((i+1)); done
ip link set eth0 up
echo "GUEST: eth0 \$(cat /sys/class/net/eth0/address) driver=\$(basename \$(readlink /sys/class/net/eth0/device/driver))"
udhcpc -i eth0 -n -q -f -t 10 -T 1 -s /etc/udhcpc.script 2>&1
echo "GUEST: dhcp done uptime=\$(cut -d' ' -f1 /proc/uptime) ip=\$(ip -4 addr show dev eth0 | sed -n 's/.*inet \([0-9.\/]*\).*/\1/p')"
P=\$(sed -n 's/.*ping_host=\([0-9.]*\).*/\1/p' /proc/cmdline)
[ -n "\$P" ] || P=\$(ip -4 route show default | awk '{print \$3; exit}')
[ -n "\$P" ] && ping -c 3 -i 0.2 -W 2 "\$P" && echo "GUEST: PING-HOST-OK"
httpd -p 80 -h /www && echo "GUEST: httpd started"
if grep -q 'iperf=1' /proc/cmdline && [ -x /usr/bin/iperf3 ]; then
  /usr/bin/iperf3 -s -D && echo "GUEST: iperf3 server started"
fi
echo "GUEST: READY uptime=\$(cut -d' ' -f1 /proc/uptime)"
L=\$(sed -n 's/.*guest_life=\([0-9]*\).*/\1/p' /proc/cmdline); sleep \${L:-20}
echo "GUEST: poweroff"; poweroff -f
EOF
chmod +x "$R/init"

name=initramfs.cpio.gz
if [ $iperf = 1 ]; then
    command -v iperf3 >/dev/null || { echo "build_initramfs: iperf3 not installed" >&2; exit 1; }
    mkdir -p "$R/usr/bin"
    cp "$(command -v iperf3)" "$R/usr/bin/iperf3"
    for l in $(ldd "$(command -v iperf3)" | grep -o '/[^ ]*'); do
        mkdir -p "$R$(dirname "$l")"
        cp -L "$l" "$R$l"
    done
    name=initramfs-iperf.cpio.gz
fi

(cd "$R" && find . | cpio -o -H newc --quiet | gzip -9) > "$out/$name.tmp"
mv -f "$out/$name.tmp" "$out/$name"
rm -rf "$R"
ls -la "$out/$name" >&2
