package trend

// MaxSeriesPoints bounds the points a Series keeps: a fit over them costs
// the same whatever the window (TheilSen thins to MaxFitPoints anyway).
const MaxSeriesPoints = 512

// Series is a time series in bounded memory. It keeps every sample until
// it holds MaxSeriesPoints, then halves its resolution: every other point
// goes, and from then on one sample in two is kept (one in four after the
// next halving, ...). The points stay evenly spread over the whole window,
// so a fit through them is unbiased, and the latest sample is always the
// last point. The zero value is ready to use.
type Series struct {
	pts    []Point
	stride int  // a sample is kept when its index is a multiple of stride
	n      int  // samples added
	tail   bool // the last point is the latest sample but not a kept one
}

// Add appends a sample (in order of T).
func (s *Series) Add(p Point) {
	if s.tail {
		s.pts = s.pts[:len(s.pts)-1]
	}
	if s.stride == 0 {
		s.stride = 1
	}
	if s.n%s.stride == 0 && len(s.pts) >= MaxSeriesPoints {
		k := 0
		for i := 0; i < len(s.pts); i += 2 {
			s.pts[k] = s.pts[i]
			k++
		}
		s.pts = s.pts[:k]
		s.stride *= 2
	}
	s.tail = s.n%s.stride != 0
	s.pts = append(s.pts, p)
	s.n++
}

// Points returns the kept points, oldest first (valid until the next Add).
func (s *Series) Points() []Point { return s.pts }

// Samples is how many samples were added.
func (s *Series) Samples() int { return s.n }
