// The peer: an Ansible playbook that configures the same site over SSH, the
// way a careful person would write it — command/shell tasks with guards that
// report `changed` only when something changed, the sysctl module, a template
// for the table names, nft through the command module — and that reaches the
// very same kernel state as multiwan (same tables, priorities, protocol 77
// marks, connection-mark rules and nft tables), so the bench can compare snapshots.
//
// Settings are Ansible's usual fast ones: no fact gathering, pipelining on,
// OpenSSH with ControlMaster/ControlPersist (Ansible's default). Every run
// starts cold, like a `pulumi` command does: the control master is closed
// after each playbook run.
import { parseRoute } from "../lib/kinds/routingTable";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Lab } from "../lab/lab";
import { planSite, type Plan } from "../lib/plan";
import { hex, type Site } from "../lib/schema";
import type { Gateway } from "./context";
import { check, run, scratchDir } from "../support/proc";

const SYSCTL_FILE = "/etc/sysctl.d/90-multiwan.conf";
const TABLE_NAMES_FILE = "/etc/iproute2/rt_tables.d/multiwan.conf";

const APPLY_PLAYBOOK = String.raw`# The multi-WAN gateway with Ansible (bench peer of multiwan's pulumi up).
- name: multi-WAN gateway
  hosts: gateway
  gather_facts: false
  tasks:
    - name: sysctls for multipath routing and NAT
      ansible.posix.sysctl:
        name: "{{ item.name }}"
        value: "{{ item.value }}"
        sysctl_file: ${SYSCTL_FILE}
        sysctl_set: true
        reload: false
        state: present
      loop: "{{ sysctls }}"

    - name: routing table names
      ansible.builtin.template:
        src: rt_tables.j2
        dest: ${TABLE_NAMES_FILE}
        mode: "0644"

    - name: routing table per uplink
      ansible.builtin.shell: |
        set -e
        before=$(ip -o route show table {{ item.id }} proto {{ protocol }} 2>/dev/null || true)
        ip -batch - <<'EOF'
        {{ item.batch }}
        EOF
        [ "$(ip -o route show table {{ item.id }} proto {{ protocol }})" = "$before" ] || echo CHANGED
      loop: "{{ tables }}"
      loop_control: { label: "table {{ item.id }}" }
      register: result
      changed_when: "'CHANGED' in result.stdout"

    - name: source policy rule per uplink
      ansible.builtin.shell: |
        set -e
        ip -N rule show pref {{ item.pref }} | grep -qF 'from {{ item.from }} lookup {{ item.table }} proto {{ protocol }}' && exit 0
        while ip rule del pref {{ item.pref }} protocol {{ protocol }} 2>/dev/null; do :; done
        ip rule add pref {{ item.pref }} from {{ item.from }} lookup {{ item.table }} protocol {{ protocol }}
        echo CHANGED
      loop: "{{ rules }}"
      loop_control: { label: "pref {{ item.pref }}" }
      register: result
      changed_when: "'CHANGED' in result.stdout"

    - name: connection-mark rule per uplink (marked connections keep their uplink)
      ansible.builtin.shell: |
        set -e
        ip -N rule show pref {{ item.pref }} | grep -qF 'from all fwmark {{ item.fwmark }} lookup {{ item.table }} proto {{ protocol }}' && exit 0
        while ip rule del pref {{ item.pref }} protocol {{ protocol }} 2>/dev/null; do :; done
        ip rule add pref {{ item.pref }} fwmark {{ item.fwmark }} lookup {{ item.table }} protocol {{ protocol }}
        echo CHANGED
      loop: "{{ marks }}"
      loop_control: { label: "pref {{ item.pref }}" }
      register: result
      changed_when: "'CHANGED' in result.stdout"

    - name: weighted multipath default, reached after main
      ansible.builtin.shell: |
        set -e
        changed=
        before=$(ip -o route show table {{ multipath.table }} proto {{ protocol }} default 2>/dev/null || true)
        ip route replace default table {{ multipath.table }} proto {{ protocol }} {{ multipath.nexthops }}
        [ "$(ip -o route show table {{ multipath.table }} proto {{ protocol }} default)" = "$before" ] || changed=1
        if ! ip -N rule show pref {{ multipath.main_pref }} | grep -qF 'lookup 254 suppress_prefixlength 0 proto {{ protocol }}'; then
          ip rule add pref {{ multipath.main_pref }} lookup 254 suppress_prefixlength 0 protocol {{ protocol }}
          changed=1
        fi
        if ! ip -N rule show pref {{ multipath.pref }} | grep -qF 'lookup {{ multipath.table }} proto {{ protocol }}'; then
          ip rule add pref {{ multipath.pref }} lookup {{ multipath.table }} protocol {{ protocol }}
          changed=1
        fi
        [ -z "$changed" ] || echo CHANGED
      register: result
      changed_when: "'CHANGED' in result.stdout"

    - name: pinned destinations per uplink
      ansible.builtin.shell: |
        set -e
        pinned() { ip -o route show table {{ multipath.table }} proto {{ protocol }} dev {{ item.dev }} | cut -d' ' -f1 | grep -v '^default$' || true; }
        before=$(pinned | sort)
        ip -batch - <<'EOF'
        {{ item.batch }}
        EOF
        stale=$(pinned | grep -vxF '{{ item.keep }}' || true)
        [ -z "$stale" ] || printf '%s\n' "$stale" | sed 's/^/route del /; s/$/ table {{ multipath.table }} proto {{ protocol }}/' | ip -batch -
        [ "$(pinned | sort)" = "$before" ] || echo CHANGED
      loop: "{{ pinned }}"
      loop_control: { label: "{{ item.uplink }}" }
      register: result
      changed_when: "'CHANGED' in result.stdout"

    - name: read our nftables tables
      ansible.builtin.command: nft list table ip {{ item.name }}
      loop: "{{ nft_tables }}"
      loop_control: { label: "{{ item.name }}" }
      register: nft_now
      changed_when: false
      failed_when: false
      check_mode: false

    - name: load the nftables tables that differ (connection marks and masquerade per uplink, forwarding)
      ansible.builtin.command:
        cmd: nft -f -
        stdin: "table ip {{ item.item.name }}\ndelete table ip {{ item.item.name }}\n{{ item.item.body }}"
      loop: "{{ nft_now.results }}"
      loop_control: { label: "{{ item.item.name }}" }
      when: item.stdout != item.item.body
`;

const REMOVE_PLAYBOOK = String.raw`# Removes what site.yml added (bench peer of multiwan's pulumi destroy).
- name: remove the multi-WAN gateway
  hosts: gateway
  gather_facts: false
  tasks:
    - name: read our nftables tables
      ansible.builtin.command: nft list table ip {{ item.name }}
      loop: "{{ nft_tables }}"
      loop_control: { label: "{{ item.name }}" }
      register: nft_now
      changed_when: false
      failed_when: false

    - name: delete our nftables tables
      ansible.builtin.command: nft delete table ip {{ item.item.name }}
      loop: "{{ nft_now.results }}"
      loop_control: { label: "{{ item.item.name }}" }
      when: item.rc == 0

    - name: unpin destinations
      ansible.builtin.shell: |
        set -e
        stale=$(ip -o route show table {{ multipath.table }} proto {{ protocol }} dev {{ item.dev }} | cut -d' ' -f1 | grep -xF '{{ item.keep }}' || true)
        [ -n "$stale" ] || exit 0
        printf '%s\n' "$stale" | sed 's/^/route del /; s/$/ table {{ multipath.table }} proto {{ protocol }}/' | ip -batch -
        echo CHANGED
      loop: "{{ pinned }}"
      loop_control: { label: "{{ item.uplink }}" }
      register: result
      changed_when: "'CHANGED' in result.stdout"

    - name: remove the multipath default and the rules that reach it
      ansible.builtin.shell: |
        changed=
        while ip rule del pref {{ multipath.pref }} protocol {{ protocol }} 2>/dev/null; do changed=1; done
        while ip rule del pref {{ multipath.main_pref }} protocol {{ protocol }} 2>/dev/null; do changed=1; done
        if [ -n "$(ip -o route show table {{ multipath.table }} proto {{ protocol }} default)" ]; then
          ip route del default table {{ multipath.table }} proto {{ protocol }}
          changed=1
        fi
        [ -z "$changed" ] || echo CHANGED
      register: result
      changed_when: "'CHANGED' in result.stdout"

    - name: remove the connection-mark rules
      ansible.builtin.shell: |
        changed=
        while ip rule del pref {{ item.pref }} protocol {{ protocol }} 2>/dev/null; do changed=1; done
        [ -z "$changed" ] || echo CHANGED
      loop: "{{ marks }}"
      loop_control: { label: "pref {{ item.pref }}" }
      register: result
      changed_when: "'CHANGED' in result.stdout"

    - name: drop the marked connections from conntrack (their clients reconnect at once)
      ansible.builtin.shell: conntrack -D --mark {{ item.fwmark }} >/dev/null 2>&1 || true
      loop: "{{ marks }}"
      loop_control: { label: "mark {{ item.fwmark }}" }
      changed_when: false

    - name: remove source policy rules
      ansible.builtin.shell: |
        changed=
        while ip rule del pref {{ item.pref }} protocol {{ protocol }} 2>/dev/null; do changed=1; done
        [ -z "$changed" ] || echo CHANGED
      loop: "{{ rules }}"
      loop_control: { label: "pref {{ item.pref }}" }
      register: result
      changed_when: "'CHANGED' in result.stdout"

    - name: flush the uplink tables
      ansible.builtin.shell: |
        [ -z "$(ip -o route show table {{ item.id }} proto {{ protocol }})" ] && exit 0
        ip route flush table {{ item.id }} proto {{ protocol }}
        echo CHANGED
      loop: "{{ tables }}"
      loop_control: { label: "table {{ item.id }}" }
      register: result
      changed_when: "'CHANGED' in result.stdout"

    - name: remove the table names
      ansible.builtin.file:
        path: ${TABLE_NAMES_FILE}
        state: absent

    - name: restore the original sysctls
      ansible.posix.sysctl:
        name: "{{ item.name }}"
        value: "{{ item.value }}"
        sysctl_file: ${SYSCTL_FILE}
        sysctl_set: true
        reload: false
        state: present
      loop: "{{ sysctls_original }}"

    - name: remove the sysctl file
      ansible.builtin.file:
        path: ${SYSCTL_FILE}
        state: absent
`;

const TABLE_NAMES_TEMPLATE = `# managed by ansible (multiwan bench peer)
{% for t in table_names %}
{{ t }}
{% endfor %}
`;

/** The nft table bodies exactly as `nft list table` prints them (mirrors lib/kinds/*.ts). */
function nftTables(plan: Plan): { name: string; body: string }[] {
  const table = (name: string, chain: string, hook: string, rules: string[]) =>
    [`table ip ${name} {`, `\tchain ${chain} {`, `\t\t${hook}`, ...rules.map((r) => `\t\t${r}`), `\t}`, `}`].join("\n");
  const chains = (name: string, cs: { chain: string; hook: string; rules: string[] }[]) =>
    [
      `table ip ${name} {`,
      cs.map((c) => [`\tchain ${c.chain} {`, `\t\t${c.hook}`, ...c.rules.map((r) => `\t\t${r}`), `\t}`].join("\n")).join("\n\n"),
      `}`,
    ].join("\n");
  // nft lists marks zero-padded, and (x & ~mask) | mark with the mark folded into the kept bits.
  const hex8 = (n: number) => `0x${n.toString(16).padStart(8, "0")}`;
  const f = plan.forward;
  return [
    ...plan.marks.map((m) => {
      const unmarked = `ct mark & ${hex8(m.mask)} == ${hex8(0)}`;
      const ours = `ct mark & ${hex8(m.mask)} == ${hex8(m.mark)}`;
      const keep = hex8((~m.mask | m.mark) >>> 0);
      const setCt = `ct mark set ct mark & ${keep} | ${hex8(m.mark)}`;
      const restore = `${ours} meta mark set meta mark & ${keep} | ${hex8(m.mark)}`;
      const name = `multiwan-mark-${m.uplink}`;
      return {
        name,
        body: chains(name, [
          {
            chain: "prerouting",
            hook: "type filter hook prerouting priority mangle; policy accept;",
            rules: [`iifname "${m.interface}" ${unmarked} ${setCt}`, restore],
          },
          { chain: "output", hook: "type route hook output priority mangle; policy accept;", rules: [restore] },
          {
            chain: "postrouting",
            hook: "type filter hook postrouting priority mangle; policy accept;",
            rules: [`oifname "${m.interface}" ${unmarked} ${setCt}`],
          },
        ]),
      };
    }),
    ...plan.masquerade.map((m) => ({
      name: `multiwan-nat-${m.uplink}`,
      body: table(`multiwan-nat-${m.uplink}`, "postrouting", "type nat hook postrouting priority srcnat; policy accept;", [
        `oifname "${m.interface}" masquerade`,
      ]),
    })),
    {
      name: "multiwan-forward",
      body: table("multiwan-forward", "forward", "type filter hook forward priority filter; policy accept;", [
        f.uplinkInterfaces.length === 1
          ? `iifname "${f.lanInterface}" oifname "${f.uplinkInterfaces[0]}" accept`
          : `iifname "${f.lanInterface}" oifname { ${f.uplinkInterfaces.map((i) => `"${i}"`).join(", ")} } accept`,
        "ct state established,related accept",
      ]),
    },
  ];
}

/** The playbooks' variables for a site; sysctl originals come from the pristine gateway. */
export function ansibleVars(site: Site, originalSysctls: Record<string, string>): Record<string, unknown> {
  if (site.nat.backend !== "nftables") throw new Error("the Ansible peer implements nat.backend nftables only");
  const plan = planSite(site);
  if (plan.portForwards.length) throw new Error("the Ansible peer does not implement port forwards");
  const protocol = site.routing.protocol;
  const mp = plan.multipath;
  return {
    protocol,
    sysctls: Object.entries(plan.host.sysctls).map(([name, value]) => ({ name, value })),
    sysctls_original: Object.keys(plan.host.sysctls).map((name) => {
      const v = originalSysctls[name];
      if (v === undefined) throw new Error(`no original value for ${name} in the pristine snapshot`);
      return { name, value: v };
    }),
    table_names: plan.host.tableNames,
    tables: plan.tables.map((t) => ({
      id: t.table,
      batch: t.routes
        .map((spec) => parseRoute(spec)!)
        .map((r) =>
          [
            "route replace",
            r.destination,
            ...(r.via ? ["via", r.via] : []),
            "dev",
            r.dev,
            ...(r.src ? ["src", r.src] : []),
            "table",
            t.table,
            "proto",
            protocol,
          ].join(" "),
        )
        .join("\n"),
    })),
    rules: plan.rules.map((r) => ({ pref: r.priority, from: r.from, table: r.table })),
    marks: plan.marks.map((m) => ({ pref: m.priority, fwmark: `${hex(m.mark)}/${hex(m.mask)}`, table: m.table })),
    multipath: {
      table: mp.table,
      main_pref: mp.mainPriority,
      pref: mp.multipathPriority,
      nexthops: mp.nexthops.map((n) => `nexthop via ${n.via} dev ${n.dev} weight ${n.weight}`).join(" "),
    },
    pinned: plan.pinned.map((p) => ({
      uplink: p.uplink,
      dev: p.dev,
      batch: p.destinations.map((d) => `route replace ${d} via ${p.via} dev ${p.dev} table ${p.table} proto ${p.protocol}`).join("\n"),
      keep: p.destinations.join("\n"),
    })),
    nft_tables: nftTables(plan),
  };
}

export interface Recap {
  ok: number;
  changed: number;
  failed: number;
  skipped: number;
  unreachable: number;
}

export interface AnsibleRun {
  ms: number;
  recap: Recap;
}

/** ansible-playbook and the ansible.posix collection (for the sysctl module). */
export async function ansibleAvailable(): Promise<{ ok: boolean; version?: string; reason?: string }> {
  let v: Awaited<ReturnType<typeof run>>;
  try {
    v = await run(["ansible-playbook", "--version"], { timeoutMs: 30_000 });
  } catch {
    return { ok: false, reason: "ansible-playbook is not installed (Debian: apt-get install -y ansible)" };
  }
  if (v.code !== 0) return { ok: false, reason: `ansible-playbook --version failed: ${v.stderr.trim()}` };
  const doc = await run(["ansible-doc", "-t", "module", "ansible.posix.sysctl"], { timeoutMs: 60_000 });
  if (doc.code !== 0)
    return { ok: false, reason: "the ansible.posix collection (sysctl module) is missing (Debian: apt-get install -y ansible)" };
  return { ok: true, version: v.stdout.split("\n")[0].trim() };
}

export class AnsiblePeer {
  readonly dir: string;
  private readonly env: NodeJS.ProcessEnv;

  constructor(
    readonly lab: Lab,
    gw: Gateway,
    private readonly originalSysctls: Record<string, string>,
  ) {
    this.dir = scratchDir(fs.mkdtempSync(path.join(os.tmpdir(), "mwbench-ansible-")));
    for (const d of ["home", "tmp", "cp"]) fs.mkdirSync(path.join(this.dir, d));
    fs.writeFileSync(path.join(this.dir, "site.yml"), APPLY_PLAYBOOK);
    fs.writeFileSync(path.join(this.dir, "remove.yml"), REMOVE_PLAYBOOK);
    fs.writeFileSync(path.join(this.dir, "rt_tables.j2"), TABLE_NAMES_TEMPLATE);
    const sshCommon = [
      "-F none",
      `-o UserKnownHostsFile=${gw.knownHostsPath}`,
      "-o GlobalKnownHostsFile=/dev/null",
      "-o StrictHostKeyChecking=yes",
      "-o IdentitiesOnly=yes",
    ].join(" ");
    const inventory = {
      all: {
        hosts: {
          gateway: {
            ansible_host: "127.0.0.1",
            ansible_port: gw.port,
            ansible_user: "root",
            ansible_ssh_private_key_file: lab.privateKeyPath,
            ansible_ssh_common_args: sshCommon,
            ansible_python_interpreter: "/usr/bin/python3",
          },
        },
      },
    };
    fs.writeFileSync(path.join(this.dir, "inventory.json"), JSON.stringify(inventory, null, 2));
    this.env = {
      ...process.env,
      ANSIBLE_HOME: path.join(this.dir, "home"),
      ANSIBLE_LOCAL_TEMP: path.join(this.dir, "tmp"),
      ANSIBLE_SSH_CONTROL_PATH_DIR: path.join(this.dir, "cp"),
      ANSIBLE_NOCOWS: "1",
      ANSIBLE_RETRY_FILES_ENABLED: "0",
      ANSIBLE_HOST_KEY_CHECKING: "1",
      ANSIBLE_PIPELINING: "1",
      ANSIBLE_GATHERING: "explicit",
      ANSIBLE_FORCE_COLOR: "0",
      ANSIBLE_NOCOLOR: "1",
      ANSIBLE_DEPRECATION_WARNINGS: "0",
      ANSIBLE_SYSTEM_WARNINGS: "0",
      ANSIBLE_LOCALHOST_WARNING: "0",
      ANSIBLE_SSH_RETRIES: "0",
      ANSIBLE_CONFIG: path.join(this.dir, "ansible.cfg"), // absent: only the settings above apply
      PYTHONDONTWRITEBYTECODE: "1",
    };
  }

  private async playbook(file: string, site: Site, extra: string[] = []): Promise<AnsibleRun> {
    fs.writeFileSync(path.join(this.dir, "vars.json"), JSON.stringify(ansibleVars(site, this.originalSysctls), null, 2));
    try {
      const r = await run(["ansible-playbook", "-i", "inventory.json", "-e", "@vars.json", ...extra, file], {
        cwd: this.dir,
        env: this.env,
        timeoutMs: 300_000,
      });
      check(r, `ansible-playbook ${extra.join(" ")} ${file}`);
      const m = /gateway\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)/.exec(r.stdout);
      if (!m) throw new Error(`ansible-playbook ${file}: no recap in its output:\n${r.stdout.slice(-3000)}`);
      const recap = { ok: +m[1], changed: +m[2], unreachable: +m[3], failed: +m[4], skipped: +m[5] };
      if (recap.failed || recap.unreachable) throw new Error(`ansible-playbook ${file}: ${m[0]}\n${r.stdout.slice(-3000)}`);
      return { ms: r.ms, recap };
    } finally {
      await this.closeMasters();
    }
  }

  apply(site: Site): Promise<AnsibleRun> {
    return this.playbook("site.yml", site);
  }

  /** `--check --diff`: what would change, without changing it (the peer of `pulumi preview`). */
  checkMode(site: Site): Promise<AnsibleRun> {
    return this.playbook("site.yml", site, ["--check", "--diff"]);
  }

  remove(site: Site): Promise<AnsibleRun> {
    return this.playbook("remove.yml", site);
  }

  /** Ends the OpenSSH control masters Ansible left (ControlPersist), so no ssh process outlives a run. */
  async closeMasters(): Promise<void> {
    const cp = path.join(this.dir, "cp");
    for (const f of fs.existsSync(cp) ? fs.readdirSync(cp) : []) {
      await run(["ssh", "-F", "none", "-o", `ControlPath=${path.join(cp, f)}`, "-O", "exit", "root@127.0.0.1"], { timeoutMs: 10_000 });
    }
  }

  async cleanup(): Promise<void> {
    await this.closeMasters();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
