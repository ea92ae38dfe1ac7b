import t from 'tap'
import { underTasksPath } from '../../gateway/tasks-path.js'

t.test('every spelling of a path under --tasks-path is recognised', async (t) => {
  const under = ['/_podside/tasks', '/_podside/tasks/', '/_podside/tasks/x', '/_PODSIDE/TASKS/x', '/%5Fpodside/tasks/x', '/%255Fpodside/tasks/x',
    '/_podside%2Ftasks/x', '//_podside//tasks/x', '/a/../_podside/tasks/x', '/./_podside/tasks?q=1', '\\_podside\\tasks\\x', '/_podside/tasks%2fx']
  for (const p of under) t.ok(underTasksPath(p, '/_podside/tasks'), p)
  const other = ['/', '/_podside/tasksx', '/_podside/task', '/x/_podside/tasks', '/%E0%A4%A/_podside', '/_podside']
  for (const p of other) t.notOk(underTasksPath(p, '/_podside/tasks'), p)
})
