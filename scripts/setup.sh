#!/usr/bin/env bash
# Installs what the demo and the tests need on a fresh Debian/Ubuntu machine:
# Debian packages, npm packages, the Pulumi CLI. Safe to run again: each step
# is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
export DEBIAN_FRONTEND=noninteractive
# The lab's and the bench's tools, and what the unit tests run the rendered
# files through (shellcheck; dash for `sh -n`; systemd-analyze from systemd;
# ssh-keygen from openssh-client; ping from iputils-ping for the health monitor;
# the lab's DHCP modem and client: dnsmasq from dnsmasq-base, udhcpc from busybox):
# under CI=true a missing one fails its test.
need=(iproute2 socat openssh-server openssh-client nftables iptables conntrack iputils-ping systemd iperf3 shellcheck dash dnsmasq-base busybox)
missing=()
for p in "${need[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  # Keep the packages' services (sshd, nftables) from starting on the host:
  # the lab runs its own sshd inside a namespace. Images built for containers
  # ship a policy-rc.d that denies starts; provide one for the install if not.
  own_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    own_policy=1
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
  [ -z "$own_policy" ] || rm -f /usr/sbin/policy-rc.d
fi
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund
fi
bash scripts/toolchain.sh >/dev/null
npx tsc -b
echo "setup: ready in $((SECONDS - start)) s"
