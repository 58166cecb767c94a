#!/usr/bin/env bash
# Installs hvnet: the binary, its systemd units, shell completions (bash, zsh, fish), man
# pages (one per subcommand), an example /etc/hvnet/hvnet.toml (never overwriting one), the
# JSON Schema of the config, and on request the Xen and QEMU hook links.
#
#   scripts/install.sh [--prefix P] [--destdir D] [--binary FILE] [--xen-hooks] [--qemu-hooks]
#
#   --prefix P     where the files go (default /usr/local): P/bin/hvnet,
#                  P/lib/systemd/system/hvnet*.service, P/share/man/man1/hvnet*.1,
#                  P/share/{bash-completion/completions,zsh/…,fish/vendor_completions.d},
#                  P/share/hvnet/ (schema, example config); /etc/hvnet/hvnet.toml
#   --destdir D    stage everything under D (packaging, tests); paths inside files and links
#                  stay as if installed at P
#   --binary FILE  install this hvnet instead of building one (`scripts/build.sh`)
#   --xen-hooks    link /etc/xen/scripts/vif-hvnet to hvnet (use `script=vif-hvnet` in a
#                  guest's vif spec); Xen's own vif-bridge etc. are left alone
#   --qemu-hooks   link /etc/hvnet/qemu-ifup and /etc/hvnet/qemu-ifdown to hvnet (use
#                  `-netdev tap,script=/etc/hvnet/qemu-ifup,downscript=/etc/hvnet/qemu-ifdown`);
#                  QEMU's own /etc/qemu-ifup is left alone
#
# Units are installed, not enabled: `systemctl daemon-reload && systemctl enable --now hvnet`.
set -euo pipefail
cd "$(dirname "$0")/.."

prefix=/usr/local destdir= binary= xen_hooks=0 qemu_hooks=0
while (($#)); do
  case $1 in
    --prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
    --destdir) destdir=${2:?--destdir needs a directory}; shift 2 ;;
    --binary) binary=${2:?--binary needs a file}; shift 2 ;;
    --xen-hooks) xen_hooks=1; shift ;;
    --qemu-hooks) qemu_hooks=1; shift ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ $prefix == /* ]] || { echo "install.sh: --prefix must be absolute" >&2; exit 2; }
prefix=${prefix%/}

if [[ -z $binary ]]; then
  scripts/build.sh
  binary=target/release/hvnet
fi
[[ -x $binary ]] || { echo "install.sh: $binary is not an executable" >&2; exit 2; }

bindir=$prefix/bin
unitdir=$prefix/lib/systemd/system
mandir=$prefix/share/man/man1
datadir=$prefix/share/hvnet
bashdir=$prefix/share/bash-completion/completions
fishdir=$prefix/share/fish/vendor_completions.d
# Debian's zsh searches vendor-completions under /usr, site-functions under /usr/local.
if [[ $prefix == /usr ]]; then zshdir=$prefix/share/zsh/vendor-completions
else zshdir=$prefix/share/zsh/site-functions; fi

D=$destdir
install -d "$D$bindir" "$D$unitdir" "$D$mandir" "$D$datadir" "$D$bashdir" "$D$zshdir" \
  "$D$fishdir" "$D/etc/hvnet"
install -m 0755 "$binary" "$D$bindir/hvnet"
hvnet=$D$bindir/hvnet

for u in dist/systemd/*.service; do
  sed "s|/usr/bin/hvnet|$bindir/hvnet|g" "$u" >"$D$unitdir/${u##*/}"
  chmod 0644 "$D$unitdir/${u##*/}"
done
"$hvnet" man "$D$mandir" >/dev/null
"$hvnet" completions bash >"$D$bashdir/hvnet"
"$hvnet" completions zsh >"$D$zshdir/_hvnet"
"$hvnet" completions fish >"$D$fishdir/hvnet.fish"
install -m 0644 hvnet.schema.json dist/hvnet.toml "$D$datadir/"
if [[ -e $D/etc/hvnet/hvnet.toml ]]; then
  echo "kept the existing $D/etc/hvnet/hvnet.toml"
else
  install -m 0644 dist/hvnet.toml "$D/etc/hvnet/hvnet.toml"
fi

if ((xen_hooks)); then
  install -d "$D/etc/xen/scripts"
  ln -sfn "$bindir/hvnet" "$D/etc/xen/scripts/vif-hvnet"
fi
if ((qemu_hooks)); then
  ln -sfn "$bindir/hvnet" "$D/etc/hvnet/qemu-ifup"
  ln -sfn "$bindir/hvnet" "$D/etc/hvnet/qemu-ifdown"
fi
echo "installed hvnet under ${D:-/}${D:+ (as $prefix)}: $bindir/hvnet, units in $unitdir, man pages, completions"
echo "next: systemctl daemon-reload && systemctl enable --now hvnet"
