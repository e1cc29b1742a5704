// KafkaJS 2.2.4 (pure JavaScript, old non-flexible request versions) against
// KAFKA_BOOTSTRAP: admin create/list/offsets, an idempotent producer with
// headers and gzip, a group consumer with commit and resume, offsets by time.
// Closes with "kafkajs: N passed, N failed"; exits 1 if any failed.
'use strict'
const { Kafka, logLevel, CompressionTypes } = require('kafkajs')
const crypto = require('crypto')

const bootstrap = process.env.KAFKA_BOOTSTRAP || '127.0.0.1:9092'
const run = crypto.randomBytes(4).toString('hex')
const kafka = new Kafka({ clientId: 'interop', brokers: [bootstrap], logLevel: logLevel.NOTHING })
const topic = (name) => `interop-kafkajs-${name}-${run}`
const only = (process.env.INTEROP_ONLY || '').split(',').filter(Boolean)

function eq (got, want, what) {
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    throw new Error(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`)
  }
}

async function within (ms, what, promise) {
  let timer
  const timeout = new Promise((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms) })
  try { return await Promise.race([promise, timeout]) } finally { clearTimeout(timer) }
}

// Creates a topic and waits until metadata shows a leader for every partition
// (Kafka answers CreateTopics before its metadata cache has the topic).
async function createTopic (admin, t, numPartitions) {
  const created = await admin.createTopics({ topics: [{ topic: t, numPartitions }], waitForLeaders: true })
  const deadline = Date.now() + 30000
  for (;;) {
    try {
      const md = await admin.fetchTopicMetadata({ topics: [t] })
      if (md.topics[0].partitions.length === numPartitions && md.topics[0].partitions.every((p) => p.leader >= 0)) return created
    } catch (e) {
      if (Date.now() > deadline) throw e
    }
    if (Date.now() > deadline) throw new Error(`topic ${t} never showed its leaders`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

// Consumes until n records arrived (or 30 s passed); returns them.
async function consumeN (groupId, t, n) {
  const consumer = kafka.consumer({ groupId, sessionTimeout: 10000, heartbeatInterval: 500 })
  await consumer.connect()
  await consumer.subscribe({ topic: t, fromBeginning: true })
  const got = []
  let done
  const finished = new Promise((resolve) => { done = resolve })
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ partition, message }) => {
      if (got.length >= n) return
      got.push({ partition, offset: Number(message.offset), key: message.key && message.key.toString(), value: message.value.toString(), headers: message.headers })
      await consumer.commitOffsets([{ topic: t, partition, offset: String(Number(message.offset) + 1) }])
      if (got.length >= n) done()
    }
  })
  try {
    await within(30000, `${n} records`, finished)
  } finally {
    await consumer.disconnect()
  }
  return got
}

const scenarios = {
  async admin_create_and_list_topics () {
    const admin = kafka.admin()
    await admin.connect()
    try {
      const t = topic('admin')
      eq(await createTopic(admin, t, 3), true, 'created')
      eq(await admin.createTopics({ topics: [{ topic: t, numPartitions: 3 }] }), false, 'created again')
      const md = await admin.fetchTopicMetadata({ topics: [t] })
      eq(md.topics[0].partitions.length, 3, 'partitions')
      eq((await admin.listTopics()).includes(t), true, 'listed')
      await admin.deleteTopics({ topics: [t] })
    } finally {
      await admin.disconnect()
    }
  },

  async idempotent_producer_gzip_headers_then_group_resume () {
    const t = topic('produce')
    const admin = kafka.admin()
    await admin.connect()
    await createTopic(admin, t, 1)
    await admin.disconnect()
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    const sent = await producer.send({
      topic: t,
      acks: -1,
      compression: CompressionTypes.GZIP,
      messages: Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: `v${i}`, headers: { h: `${i}` } }))
    })
    eq(sent.map((r) => [r.partition, r.baseOffset]), [[0, '0']], 'base offset')
    const group = topic('group')
    const first = await consumeN(group, t, 4)
    eq(first.map((r) => r.offset), [0, 1, 2, 3], 'offsets of the first run')
    eq(first.map((r) => r.headers.h.toString()), ['0', '1', '2', '3'], 'headers')
    const second = await consumeN(group, t, 6)
    eq(second.map((r) => r.offset), [4, 5, 6, 7, 8, 9], 'offsets after resuming')
    eq(second.map((r) => r.value), ['v4', 'v5', 'v6', 'v7', 'v8', 'v9'], 'values after resuming')
    await producer.disconnect()
  },

  async offsets_by_timestamp () {
    const t = topic('times')
    const admin = kafka.admin()
    await admin.connect()
    try {
      await createTopic(admin, t, 1)
      const producer = kafka.producer()
      await producer.connect()
      const base = Date.now() - 3600000
      await producer.send({ topic: t, messages: [0, 1, 2].map((i) => ({ value: `${i}`, timestamp: `${base + 1000 * i}` })) })
      await producer.disconnect()
      const at = async (ts) => (await admin.fetchTopicOffsetsByTimestamp(t, ts))[0].offset
      eq([await at(base - 1), await at(base + 1500)], ['0', '2'], 'offsets for times')
      eq((await admin.fetchTopicOffsets(t))[0].high, '3', 'high watermark')
    } finally {
      await admin.disconnect()
    }
  }
}

async function main () {
  let passed = 0; let failed = 0; let skipped = 0
  for (const [name, fn] of Object.entries(scenarios)) {
    if (only.length && !only.includes(name)) { skipped++; continue }
    const start = Date.now()
    try {
      await within(90000, name, fn())
      passed++
      console.log(`ok   kafkajs.${name} (${((Date.now() - start) / 1000).toFixed(1)}s)`)
    } catch (e) {
      failed++
      console.log(`FAIL kafkajs.${name} (${((Date.now() - start) / 1000).toFixed(1)}s): ${e.message}`)
      if (process.env.INTEROP_VERBOSE) console.log(e.stack)
    }
  }
  console.log(`kafkajs: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`)
  process.exit(failed ? 1 : 0)
}
main()
