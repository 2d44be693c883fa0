import { expect, test } from 'vitest'
import { linesOfDatabase } from './log-slice.js'

const LOG = `2026-12-02 00:40:01.101 UTC [210] LOG:  checkpoint starting: immediate force wait flush-all
2026-12-02 00:40:01.102 UTC [311] app@pgrig_r1_7 ERROR:  relation "no_such_table" does not exist at character 15
2026-12-02 00:40:01.102 UTC [311] app@pgrig_r1_7 STATEMENT:  select * from no_such_table
2026-12-02 00:40:01.103 UTC [312] app@pgrig_r1_8 ERROR:  duplicate key value violates unique constraint "u"
2026-12-02 00:40:01.103 UTC [312] app@pgrig_r1_8 DETAIL:  Key (id)=(1) already exists.
2026-12-02 00:40:01.104 UTC [311] app@pgrig_r1_7 ERROR:  syntax error at or near "selec"
2026-12-02 00:40:01.104 UTC [311] app@pgrig_r1_7 STATEMENT:  selec 1
	  from a statement's second line
2026-12-02 00:40:01.105 UTC [210] LOG:  checkpoint complete: wrote 3 buffers (0.0%)
2026-12-02 00:40:01.106 UTC [100] LOG:  server process (PID 313) was terminated by signal 9: Killed
2026-12-02 00:40:01.107 UTC [100] LOG:  terminating any other active server processes`

test("keeps the test's own database's lines with their detail lines, and server-wide trouble", () => {
  expect(linesOfDatabase(LOG, 'pgrig_r1_7').split('\n')).toEqual([
    '2026-12-02 00:40:01.102 UTC [311] app@pgrig_r1_7 ERROR:  relation "no_such_table" does not exist at character 15',
    '2026-12-02 00:40:01.102 UTC [311] app@pgrig_r1_7 STATEMENT:  select * from no_such_table',
    '2026-12-02 00:40:01.104 UTC [311] app@pgrig_r1_7 ERROR:  syntax error at or near "selec"',
    '2026-12-02 00:40:01.104 UTC [311] app@pgrig_r1_7 STATEMENT:  selec 1',
    "\t  from a statement's second line",
    '2026-12-02 00:40:01.106 UTC [100] LOG:  server process (PID 313) was terminated by signal 9: Killed',
  ])
  expect(linesOfDatabase(LOG, 'pgrig_r1_9')).not.toMatch(/pgrig_r1_[78]|checkpoint/)
})
