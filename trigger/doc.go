// Package trigger is the pure logic of loom's event taskmaster: which
// events start which tasks, and with what input.
//
// An event ({type, data}, as posted to POST /api/v1/events or delivered by
// a webhook) is matched against each trigger's Filter, a small expression
// language over the event:
//
//	type == "order.created" && data.amount > 100 && data.currency == "EUR"
//	data.tags contains "vip" || data.user.email matches "@example\\.com$"
//	exists(data.coupon) && !(data.country in ["US", "CA"])
//
// and a matching trigger's Mapping picks input values out of the event
// ("order_id" <- "data.order.id"). Webhook senders are authenticated with
// HMAC signatures (VerifySignature, VerifyTimestamped).
//
// The language is deliberately small: no loops, calls, arithmetic or
// variables, so evaluating a filter is linear in its size and cannot hang
// or allocate without bound, whoever wrote it. Its one costly operator,
// matches, is bounded three ways: the size of a pattern (MaxRegexpInsts),
// the length of the text it reads (MaxMatchInput), and the work of one
// evaluation (MatchBudget); MatchContext also stops with its context.
package trigger
