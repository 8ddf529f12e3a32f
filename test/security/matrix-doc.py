#!/usr/bin/env python3
"""Writes doc/security-matrix.md from test/security/matrix.tsv (the table the regression
test sql/security_matrix.sql checks).  Run from the repository root after changing the
table:  python3 test/security/matrix-doc.py"""
import csv, sys

LOGINS = ['A', 'B', 'firm', 'none', 'reg', 'exch', 'settl', 'BI', 'MEE', 'GD', 'HB', 'SZ', 'unmapped']
rows = []
with open('test/security/matrix.tsv', newline='') as f:
    r = csv.reader(f, delimiter='\t', quoting=csv.QUOTE_NONE)
    header = next(r)
    for obj, call, expect in r:
        t = expect.split()
        if len(t) == 1:
            t = t * len(LOGINS)
        rows.append((obj, call, t))
out = ['# The role × action matrix', '',
       'Generated from `test/security/matrix.tsv` by `test/security/matrix-doc.py`; checked by the',
       'regression test `sql/security_matrix.sql` ([security.md](security.md), "The matrix").',
       'Each call runs under each login of the fixture `test/security/fixture.sql` and is rolled',
       'back. `ok`: allowed; a SQLSTATE: refused (42501 not allowed, CMnnn the API\'s own refusal,',
       'e.g. the object of the sample call is not in a state for it); a number: rows visible.', '',
       'Logins: A, B key emitting units (Shenzhen power, Wuhan cement); firm a technical service',
       'firm; none a login with no carbonmkt role; reg the registry; exch the exchange; settl',
       'settlement; BI; MEE the national authority; GD, HB provincial authorities (Guangdong, Hubei);',
       'SZ the Shenzhen city authority; unmapped an authority login mapped to no authority.', '',
       '| object | sample call | ' + ' | '.join(LOGINS) + ' |',
       '|---|---|' + '---|' * len(LOGINS)]
for obj, call, t in rows:
    out.append('| `%s` | `%s` | %s |' % (obj.replace('|', '\\|'), call.replace('|', '\\|'), ' | '.join(t)))
open('doc/security-matrix.md', 'w').write('\n'.join(out) + '\n')
print('doc/security-matrix.md: %d rows' % len(rows))
