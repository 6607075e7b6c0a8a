// Writes src/invoice/go_floats.tsv: float64 values (as hex bits) and the
// JSON text Go's encoding/json writes for each, the reference for
// paywatch's Go-compatible number writer (src/invoice/gojson.rs).
//
//	go run scripts/go-json-floats.go > src/invoice/go_floats.tsv
package main

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
)

func main() {
	values := []float64{
		0, math.Copysign(0, -1), 1, -1, 10, 72, 72.5, 0.1, 0.2, 0.3, 1.1, 3.9562, 13.698631,
		27.638889, 100, 199, 1e6, 1e15, 1e20, 1e21, 1.5e21, 9.999999999999999e20,
		1e-6, 9.99e-7, 1e-7, 1.5e-7, 1e-10, 1.2345e-10, 5e-324, math.MaxFloat64,
		math.SmallestNonzeroFloat64, 123456789.123456789, 0.000001, 0.0000015,
		21000000, 2100000000000000, 1.7976931348623157e308, 4.9406564584124654e-324,
		-72.5, -1e21, -1e-7, 0.01, 0.001, 0.0001, 0.00001, 1e22, 1e100, 1e-100,
	}
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 300; i++ {
		// Amounts as shops send them: cents and four-decimal figures.
		values = append(values, float64(r.Int63n(100000000))/100, float64(r.Int63n(1000000000))/10000)
	}
	for i := 0; i < 300; i++ {
		// Any finite float64.
		for {
			f := math.Float64frombits(r.Uint64())
			if !math.IsNaN(f) && !math.IsInf(f, 0) {
				values = append(values, f)
				break
			}
		}
	}
	fmt.Println("# float64 bits (hex)\tencoding/json's text; made by scripts/go-json-floats.go")
	for _, f := range values {
		b, err := json.Marshal(f)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%016x\t%s\n", math.Float64bits(f), b)
	}
}
