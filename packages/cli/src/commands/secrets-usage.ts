/** Shared by the reading and writing halves of `keynest secrets`. */

export const USAGE = `Usage: keynest secrets <subcommand> [--project P] [--env E]

  set KEY=VALUE [KEY2=VALUE2 ...]     add or change secrets, all in one atomic write
  set KEY --from-file PATH            the value is the file's contents, exactly
  set KEY --stdin                     the value is all of stdin, exactly
      [--if-version N]                (one key only) refuse unless the current version is N
                                      (0: the key must not exist yet)
  get KEY [--plain] [--raw]           print a value (--plain: exactly, no newline added;
                                      --raw: leave \${...} references unresolved)
  list [--reveal] [--include-deleted] [--raw]
                                      keys with version and author; values with --reveal
  delete KEY [--if-version N]         delete (restorable)
  restore KEY                         undo a delete
  history KEY                         list the versions of a secret
  rollback KEY --version N [--if-version M]
                                      make version N's value current again, as a new version

The project and environment come from --project/--env, else KEYNEST_PROJECT/KEYNEST_ENV, else
.keynest.json. Values given as KEY=VALUE are visible to other local users in the process list and
may land in shell history: prefer --stdin or --from-file for real secrets.
`;

export const TARGET_OPTIONS = { project: { type: 'string' }, env: { type: 'string' } } as const;
