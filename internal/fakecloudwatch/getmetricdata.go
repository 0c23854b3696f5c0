package fakecloudwatch

import (
	"math"
	"regexp"
	"slices"
	"time"
)

// The GetMetricData limits the fake enforces.
const (
	MaxMetricDataQueries = 500
	MaxQueryIDBytes      = 255
	DefaultMaxDatapoints = 100_800
)

// queryID is the rule on a query's Id.
var queryID = regexp.MustCompile(`^[a-z][a-zA-Z0-9_]*$`)

// metricStat is one decoded MetricStat query.
type metricStat struct {
	id, label, namespace, name, stat string
	dims                             map[string]string
	period                           time.Duration
}

// getMetricData answers a GetMetricData request from the recorded data:
// MetricStat queries only (Expression queries are refused), statistics
// Sum, SampleCount, Average, Minimum and Maximum, one data point per
// period from StartTime with data, newest first unless ScanBy is
// TimestampAscending. s.mu is held.
func (s *Server) getMetricData(body []byte) (any, error) {
	v, err := decodeCBOR(body)
	if err != nil {
		return nil, badRequest("SerializationException", "%v", err)
	}
	in, _ := v.(map[string]any)
	start, _ := in["StartTime"].(time.Time)
	end, _ := in["EndTime"].(time.Time)
	if start.IsZero() || end.IsZero() {
		return nil, badRequest("MissingParameter", "The parameters StartTime and EndTime are required.")
	}
	if !start.Before(end) {
		return nil, badRequest("InvalidParameterValue", "The parameter StartTime must be less than the parameter EndTime.")
	}
	raw, _ := in["MetricDataQueries"].([]any)
	if len(raw) == 0 || len(raw) > MaxMetricDataQueries {
		return nil, badRequest("InvalidParameterValue", "The collection MetricDataQueries must not be empty and must not have more than %d members; it has %d.", MaxMetricDataQueries, len(raw))
	}
	queries, err := decodeQueries(raw)
	if err != nil {
		return nil, err
	}
	maxPoints := DefaultMaxDatapoints
	if n, ok := in["MaxDatapoints"].(uint64); ok && n > 0 {
		maxPoints = int(min(n, math.MaxInt32))
	}
	ascending := in["ScanBy"] == "TimestampAscending"
	results := make([]any, 0, len(queries))
	points := 0
	for _, q := range queries {
		stamps, values := s.evaluate(q, start, end, ascending)
		points += len(values)
		if points > maxPoints {
			return nil, badRequest("InvalidParameterValue", "The query asks for more than MaxDatapoints (%d) data points; the fake does not paginate.", maxPoints)
		}
		label := q.label
		if label == "" {
			label = q.name
		}
		results = append(results, map[string]any{"Id": q.id, "Label": label, "StatusCode": "Complete",
			"Timestamps": stamps, "Values": values})
	}
	return map[string]any{"MetricDataResults": results, "Messages": []any{}}, nil
}

// decodeQueries checks and decodes the MetricDataQueries.
func decodeQueries(raw []any) ([]metricStat, error) {
	seen := map[string]bool{}
	out := make([]metricStat, 0, len(raw))
	for i, r := range raw {
		m, _ := r.(map[string]any)
		var q metricStat
		q.id, _ = m["Id"].(string)
		if !queryID.MatchString(q.id) || len(q.id) > MaxQueryIDBytes {
			return nil, badRequest("ValidationError", "The value %q for parameter MetricDataQueries.member.%d.Id is not valid: it must start with a lowercase letter and hold only letters, digits and underscores, at most 255.", q.id, i+1)
		}
		if seen[q.id] {
			return nil, badRequest("InvalidParameterValue", "The values for parameter id in MetricDataQueries are not unique: %q.", q.id)
		}
		seen[q.id] = true
		if _, ok := m["Expression"]; ok {
			return nil, badRequest("InvalidParameterValue", "MetricDataQueries.member.%d: the fake serves MetricStat queries only, not Expression.", i+1)
		}
		ms, ok := m["MetricStat"].(map[string]any)
		if !ok {
			return nil, badRequest("InvalidParameterCombination", "MetricDataQueries.member.%d must have exactly one of MetricStat and Expression.", i+1)
		}
		q.label, _ = m["Label"].(string)
		metric, _ := ms["Metric"].(map[string]any)
		q.namespace, _ = metric["Namespace"].(string)
		q.name, _ = metric["MetricName"].(string)
		q.dims = map[string]string{}
		dims, _ := metric["Dimensions"].([]any)
		for _, rd := range dims {
			dm, _ := rd.(map[string]any)
			name, _ := dm["Name"].(string)
			value, _ := dm["Value"].(string)
			q.dims[name] = value
		}
		q.stat, _ = ms["Stat"].(string)
		switch q.stat {
		case "Sum", "SampleCount", "Average", "Minimum", "Maximum":
		default:
			return nil, badRequest("InvalidParameterValue", "MetricDataQueries.member.%d.MetricStat.Stat %q is not one the fake computes (Sum, SampleCount, Average, Minimum, Maximum).", i+1, q.stat)
		}
		p, _ := ms["Period"].(uint64)
		if !validPeriod(p) {
			return nil, badRequest("InvalidParameterValue", "MetricDataQueries.member.%d.MetricStat.Period %d must be 1, 5, 10, 20, 30 or a multiple of 60 seconds.", i+1, p)
		}
		q.period = time.Duration(p) * time.Second
		if q.namespace == "" || q.name == "" {
			return nil, badRequest("MissingParameter", "MetricDataQueries.member.%d.MetricStat.Metric needs a Namespace and a MetricName.", i+1)
		}
		out = append(out, q)
	}
	return out, nil
}

func validPeriod(p uint64) bool {
	switch p {
	case 1, 5, 10, 20, 30:
		return true
	}
	return p > 0 && p%60 == 0 && p <= math.MaxInt32
}

// evaluate computes one query's data points over the recorded data: a
// datum matches when its namespace, name and whole set of dimensions are
// the query's, and StartTime <= its time < EndTime.
func (s *Server) evaluate(q metricStat, start, end time.Time, ascending bool) ([]any, []any) {
	type agg struct{ sum, n, lo, hi float64 }
	buckets := map[int64]*agg{}
	for _, d := range s.datums {
		if d.Namespace != q.namespace || d.MetricName != q.name || len(d.Dimensions) != len(q.dims) ||
			d.Timestamp.Before(start) || !d.Timestamp.Before(end) {
			continue
		}
		match := true
		for k, v := range q.dims {
			if d.Dimensions[k] != v {
				match = false
				break
			}
		}
		if !match {
			continue
		}
		k := int64(d.Timestamp.Sub(start) / q.period)
		a := buckets[k]
		if a == nil {
			a = &agg{lo: d.Value, hi: d.Value}
			buckets[k] = a
		}
		a.sum += d.Value
		a.n++
		a.lo, a.hi = min(a.lo, d.Value), max(a.hi, d.Value)
	}
	keys := make([]int64, 0, len(buckets))
	for k := range buckets {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !ascending {
		slices.Reverse(keys)
	}
	stamps, values := make([]any, 0, len(keys)), make([]any, 0, len(keys))
	for _, k := range keys {
		a := buckets[k]
		v := a.sum
		switch q.stat {
		case "SampleCount":
			v = a.n
		case "Average":
			v = a.sum / a.n
		case "Minimum":
			v = a.lo
		case "Maximum":
			v = a.hi
		}
		stamps = append(stamps, start.Add(time.Duration(k)*q.period))
		values = append(values, v)
	}
	return stamps, values
}
