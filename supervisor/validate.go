package supervisor

// Validate reports what Add would refuse in s: an error naming the field
// and the rule, or nil. It does not look at the program's file.
func (s Spec) Validate() error {
	_, err := s.withDefaults()
	return err
}
