/**
 * `keynest alerts`: the org's security alerts (needs audit:read) and its alert rules (changing one
 * needs settings:manage and a recent sign-in). See docs/alerts.md.
 */
import type { AlertRuleChange, AlertRuleView } from '@keynest/sdk';
import { expectPositionals, parseCommand, parseCount } from '../args.js';
import { connect } from '../config/context.js';
import { parseDuration, timeOf } from '../duration.js';
import { UsageError } from '../errors.js';
import { emit, type Io } from '../io.js';
import { table, when } from '../table.js';
import { dispatch } from './group.js';

const USAGE = `Usage: keynest alerts list [--since TIME] [--rule RULE] [--limit N]
       keynest alerts rules
       keynest alerts set RULE [--on|--off] [--threshold N] [--window DURATION]

list    Security alerts, newest first. TIME is ISO-8601 or a duration ago (7d). An alert that
        fires again soon after is counted (COUNT), not mailed again.
rules   The alert rules, their thresholds and windows, and whether they are on.
set     Turns a rule on or off, or sets a counting rule's threshold (fire when more than N events
        fall in the window) and window (5m, 1h). Needs a recent sign-in (keynest login).
`;

const SET_OPTIONS = { on: { type: 'boolean' }, off: { type: 'boolean' }, threshold: { type: 'string' }, window: { type: 'string' } } as const;
const LIST_OPTIONS = { since: { type: 'string' }, rule: { type: 'string' }, limit: { type: 'string' } } as const;

export function run(argv: string[], io: Io): Promise<number> {
  return dispatch('alerts', argv, io, { list, rules, set }, USAGE);
}

async function list(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(argv, LIST_OPTIONS, USAGE);
  expectPositionals(positionals, []);
  const limit = parseCount('--limit', values.limit);
  const { client } = connect(io, globals, { auth: true });
  const alerts = await client.listAlerts({ since: timeOf('--since', values.since), rule: values.rule, limit });
  emit(io, globals, { alerts }, () =>
    alerts.length === 0
      ? 'No alerts.'
      : table(
          ['ID', 'FIRST', 'LAST', 'COUNT', 'RULE', 'ALERT'],
          alerts.map((a) => [a.id, when(a.firstAt), when(a.lastAt), String(a.count), a.rule, a.summary]),
        ),
  );
  return 0;
}

async function rules(argv: string[], io: Io): Promise<number> {
  const { positionals, globals } = parseCommand(argv, {}, USAGE);
  expectPositionals(positionals, []);
  const { client } = connect(io, globals, { auth: true });
  const found = await client.listAlertRules();
  emit(io, globals, { rules: found }, () => table(['RULE', 'ON', 'THRESHOLD', 'WINDOW', 'DESCRIPTION'], found.map(ruleRow)));
  return 0;
}

async function set(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(argv, SET_OPTIONS, USAGE);
  const [rule] = expectPositionals(positionals, ['RULE']);
  if (values.on && values.off) throw new UsageError('give --on or --off, not both');
  const threshold = parseCount('--threshold', values.threshold);
  const windowS = values.window === undefined ? undefined : parseDuration(values.window);
  if (windowS === null) throw new UsageError('--window must be a duration (5m, 1h), not never');
  const change: AlertRuleChange = {
    ...(values.on ? { enabled: true } : {}),
    ...(values.off ? { enabled: false } : {}),
    ...(threshold !== undefined ? { threshold } : {}),
    ...(windowS !== undefined ? { windowS } : {}),
  };
  if (Object.keys(change).length === 0) throw new UsageError('nothing to change: give --on, --off, --threshold or --window');
  const { client } = connect(io, globals, { auth: true });
  const after = await client.changeAlertRule(rule!, change);
  emit(io, globals, { rule: after }, () => `Alert rule ${after.rule}: ${after.enabled ? 'on' : 'off'}${after.threshold === null ? '' : `, more than ${after.threshold} within ${seconds(after.windowS!)}`}.`);
  return 0;
}

function ruleRow(r: AlertRuleView): string[] {
  return [r.rule, r.enabled ? 'yes' : 'no', r.threshold === null ? '-' : String(r.threshold), r.windowS === null ? '-' : seconds(r.windowS), r.description];
}

function seconds(s: number): string {
  return s % 3600 === 0 ? `${s / 3600}h` : s % 60 === 0 ? `${s / 60}m` : `${s}s`;
}
