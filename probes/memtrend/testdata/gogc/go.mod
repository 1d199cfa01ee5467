module gogc

go 1.24
