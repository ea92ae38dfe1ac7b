import t from 'tap'
import { formatDuration, formatSize, parseDuration, parseSize } from '../../shared/units.js'

t.test('durations: the documented forms only', async (t) => {
  t.same(['250ms', '30s', '15m', '2h', '7d', '0'].map(parseDuration), [250, 30_000, 900_000, 7_200_000, 604_800_000, 0])
  for (const bad of ['2 hours', '1.5h', '-1s', '10', 's', '1w', '']) t.equal(parseDuration(bad), undefined, bad)
  t.same([250, 30_000, 7_200_000, 90_000].map(formatDuration), ['250ms', '30s', '2h', '90s'])
})

t.test('sizes: KiB, MiB, GiB or plain bytes', async (t) => {
  t.same(['512KiB', '64MiB', '1GiB', '1024', '0'].map(parseSize), [524_288, 67_108_864, 1_073_741_824, 1024, 0])
  for (const bad of ['64MB', '1.5MiB', '-1', 'big', '']) t.equal(parseSize(bad), undefined, bad)
  t.same([268_435_456, 1000].map(formatSize), ['256MiB', '1000'])
})
