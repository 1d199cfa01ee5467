module goleak

go 1.24
