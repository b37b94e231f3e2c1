package bus

import "fmt"

// MaxNameLen is the longest queue or group name a bus accepts: short enough
// for a NATS subject or consumer, a Redis key and a file name.
const MaxNameLen = 128

// DoneQueue is the name the done stream goes by where a backend needs one
// (the file bus writes done.jsonl). It is reserved: ValidateQueue refuses
// it, so that ready tasks never mix with done ones.
const DoneQueue = "done"

// DefaultQueue is the queue of a task that names none, such as a seed 003
// task read by the stream bus.
const DefaultQueue = "default"

// ValidateQueue reports why name cannot be a queue name. A queue name is 1
// to MaxNameLen characters from [A-Za-z0-9_.-], with dots only between
// other characters (so that it is a valid NATS subject suffix: no empty
// token, no wildcard), and is not DoneQueue. Every backend accepts exactly
// these names.
func ValidateQueue(name string) error {
	if err := validateName("queue", name, true); err != nil {
		return err
	}
	if name == DoneQueue {
		return fmt.Errorf("%w: queue %q is reserved for done tasks", ErrInvalidName, name)
	}
	return nil
}

// ValidateGroup reports why name cannot be a consumer group name: like a
// queue name but without dots, which NATS refuses in durable consumer names
// and which the file bus uses to separate group from queue.
func ValidateGroup(name string) error {
	return validateName("group", name, false)
}

func validateName(kind, name string, dots bool) error {
	if name == "" {
		return fmt.Errorf("%w: empty %s name", ErrInvalidName, kind)
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("%w: %s name %.20q... is %d bytes, longer than %d", ErrInvalidName, kind, name, len(name), MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '-':
		case c == '.' && dots:
			if i == 0 || i == len(name)-1 || name[i-1] == '.' {
				return fmt.Errorf("%w: %s name %q: dots must separate non-empty parts", ErrInvalidName, kind, name)
			}
		default:
			return fmt.Errorf("%w: %s name %q: character %q at %d not allowed", ErrInvalidName, kind, name, c, i)
		}
	}
	return nil
}
