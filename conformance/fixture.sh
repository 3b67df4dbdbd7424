#!/usr/bin/env bash
# The conformance fixture: a tree with every object kind a rootfs holds.
#
#   fixture.sh DIR          build the base tree in DIR (which must not exist)
#   fixture.sh --edit DIR   change a base tree in place: the incremental layer's input
#
# Needs root (owners other than the caller, device nodes, trusted.* xattrs), setfattr
# (attr) and setcap (libcap2-bin), and a filesystem with user xattrs and POSIX
# directory link counts (ext4, xfs, tmpfs). Every object gets a fixed mtime, so the
# tree, its manifest and its layers are the same whenever and wherever it is built.
set -euo pipefail
export LC_ALL=C

edit=0
if [ "${1:-}" = --edit ]; then
  edit=1
  shift
fi
if [ $# -ne 1 ]; then
  echo "usage: fixture.sh [--edit] DIR" >&2
  exit 2
fi
dir=$1
if [ "$(id -u)" != 0 ]; then
  echo "fixture.sh: needs root (owners, device nodes, trusted.* xattrs)" >&2
  exit 2
fi
for tool in setfattr setcap mknod mkfifo; do
  command -v "$tool" >/dev/null || {
    echo "fixture.sh: $tool is not installed" >&2
    exit 2
  }
done

# Base objects get T (its nanoseconds are truncated in layers), edited ones T2.
T=@1700000000.250000000
T2=@1700000600
umask 022

stamp() { touch -h -d "$1" -- "${@:2}"; }

if [ "$edit" = 1 ]; then
  cd "$dir"
  [ -e etc/hosts ] || {
    echo "fixture.sh: $dir is not a base fixture" >&2
    exit 2
  }
  printf '127.0.0.1 localhost\n10.0.0.1 edited\n' >etc/hosts     # content, same size class
  chmod 0600 etc/passwd                                          # mode only
  setfattr -x user.comment etc/motd                              # an xattr removed
  setfattr -n user.added -v new etc/motd                         # and one added
  chown 1000:1000 srv/data                                       # owner only
  rm usr/bin/sgid                                                # a whiteout
  rm -r var/cache                                                # one whiteout for a tree
  ln -sfn /usr/bin/other usr/bin/rel                             # a symlink re-pointed
  ln usr/bin/tool usr/local/tool-third                           # a new link: nlink 3
  printf 'new\n' >etc/new                                        # added
  mkdir -p opt/new/deeper && printf 'x' >opt/new/deeper/file     # an added tree
  printf 'swapped' >var/was-dir                                  # a name whose kind changes
  rm -r var/kind && printf 'now a file\n' >var/kind
  stamp "$T2" etc/hosts etc/passwd etc/motd srv/data usr/bin/rel etc/new \
    opt/new/deeper/file opt/new/deeper opt/new opt var/was-dir var/kind \
    usr/bin usr/local usr/local/tool-third etc var srv .
  exit 0
fi

if [ -e "$dir" ] || [ -L "$dir" ]; then
  echo "fixture.sh: $dir already exists" >&2
  exit 2
fi
mkdir "$dir"
cd "$dir"

mkdir -p etc usr/bin usr/local usr/lib dev run srv tmp var/cache/apt var/kind home/user opt

# Regular files: empty, small, one over a 64 KiB chunk, odd modes.
: >etc/empty
printf 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n' >etc/passwd
printf 'root:x:0:\nuser:x:1000:\n' >etc/group
printf '127.0.0.1 localhost\n' >etc/hosts
printf 'welcome\n' >etc/motd
printf 'root:*:19000:0:99999:7:::\n' >etc/shadow && chmod 0000 etc/shadow
head -c 70000 /dev/zero | tr '\0' 'a' >usr/lib/big
printf '#!/bin/sh\necho tool\n' >usr/bin/tool && chmod 0755 usr/bin/tool
printf 'other\n' >usr/bin/other && chmod 0711 usr/bin/other
printf 'suid\n' >usr/bin/suid && chmod 4755 usr/bin/suid
printf 'sgid\n' >usr/bin/sgid && chmod 2755 usr/bin/sgid
printf 'cap\n' >usr/bin/ping && chmod 0755 usr/bin/ping
printf 'cache\n' >var/cache/apt/pkgcache.bin
printf 'kind\n' >var/kind/inside
mkdir var/was-dir && rmdir var/was-dir   # (absent in the base; a file after the edit)

# Hardlinks: three names of one file, across directories.
ln usr/bin/tool usr/bin/tool-link
ln usr/bin/tool usr/local/tool-second

# Symlinks: relative, absolute, dangling, to a directory, owned by someone else.
ln -s tool usr/bin/rel
ln -s /etc/hosts abs
ln -s /nowhere/at/all dangling
ln -s usr/lib lib
ln -s ../etc/motd home/user/motd && chown -h 1000:1000 home/user/motd

# A fifo and device nodes.
mkfifo -m 0600 run/fifo
mknod -m 0666 dev/null c 1 3
mknod -m 0660 dev/loop0 b 7 0
mknod -m 0620 dev/tty9 c 4 9 && chown 0:5 dev/tty9

# Special bits on directories.
chmod 1777 tmp
mkdir srv/shared && chmod 2775 srv/shared

# Owners.
chown -R 1000:1000 home/user
chown -h 1000:1000 home/user/motd
printf 'data\n' >srv/data && chown 0:100 srv/data

# Names: not UTF-8, with a newline, a space, a tab, a backslash, a '#', UTF-8.
printf 'latin1\n' >"$(printf 'srv/caf\351')"
printf 'newline\n' >"$(printf 'srv/new\nline')"
mkdir "$(printf 'srv/nl\ndir')" && printf 'in\n' >"$(printf 'srv/nl\ndir/file')"
printf 'space\n' >'srv/with space'
printf 'tab\n' >"$(printf 'srv/tab\there')"
printf 'backslash\n' >'srv/back\slash'
printf 'hash\n' >'srv/#hash'
printf 'utf8\n' >'srv/grüße'

# xattrs: user (text and binary, a newline byte among them), trusted (root only), a file capability, on a
# directory, and on a file the owner cannot read.
setfattr -n user.comment -v hello etc/motd
setfattr -n user.binary -v 0x00ff0a01fe usr/lib/big
setfattr -n trusted.note -v t etc/hosts
setcap cap_net_raw+ep usr/bin/ping
setfattr -n user.dir -v d srv/shared
setfattr -n user.secret -v s etc/shadow

# A 0000 directory with contents (root reads it; others need owner bits lent).
mkdir -p locked/inner && printf 'hidden\n' >locked/inner/file

# Fixed mtimes, deepest first so a parent's stays.
find . -depth -print0 | xargs -0 touch -h -d "$T" --
chmod 0000 locked/inner locked
