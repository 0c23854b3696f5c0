package cloudwatch

import "os"

var setenv = os.Setenv
